from django.apps import AppConfig


class DatacontrolConfig(AppConfig):
    name = "keel.datacontrol"
    label = "datacontrol"

    def ready(self):
        # Each module registers its job handler (and periodic housekeeping) with keel.jobs.registry.
        from keel.datacontrol import company_deletion, crm_deletion, exports  # noqa: F401
