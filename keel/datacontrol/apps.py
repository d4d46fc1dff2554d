from django.apps import AppConfig


class DatacontrolConfig(AppConfig):
    name = "keel.datacontrol"
    label = "datacontrol"

    def ready(self):
        # Each capability's job module registers its handler (and periodic housekeeping) with keel.jobs.registry.
        from keel.datacontrol.backups import job as backups_job  # noqa: F401
        from keel.datacontrol.company_deletion import job as company_deletion_job  # noqa: F401
        from keel.datacontrol.crm_deletion import job as crm_deletion_job  # noqa: F401
        from keel.datacontrol.export import actions, job  # noqa: F401
        from keel.datacontrol.restore import job as restore_job  # noqa: F401
