from django.apps import AppConfig


class ContactsConfig(AppConfig):
    name = "keel.contacts"
    label = "contacts"

    def ready(self):
        from keel.contacts import imports  # noqa: F401  (registers the import job handler)
