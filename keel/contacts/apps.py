from django.apps import AppConfig


class ContactsConfig(AppConfig):
    name = "keel.contacts"
    label = "contacts"

    def ready(self):
        from keel.contacts import bulk_deletion  # noqa: F401  (registers the contact_deletion job)
