from django.apps import AppConfig


class MarketingConfig(AppConfig):
    name = "keel.marketing"
    label = "marketing"

    def ready(self):
        from keel.jobs.registry import register_periodic
        from keel.marketing.tasks import resume_stalled_campaigns

        register_periodic(resume_stalled_campaigns)
