from django.apps import AppConfig


class ContactImportsConfig(AppConfig):
    """CSV import of contacts. An app of its own so that its templates and template tags live beside it."""

    name = "keel.contacts.imports"
    label = "contact_imports"

    def ready(self):
        from keel.contacts.imports import job, sweep  # noqa: F401  (register the import job and its housekeeping)
