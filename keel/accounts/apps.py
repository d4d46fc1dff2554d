from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "keel.accounts"
    label = "accounts"

    def ready(self):
        # Connects the receiver that gives every login its UserSession row.
        from keel.accounts import sessions  # noqa: F401
