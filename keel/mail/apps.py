from django.apps import AppConfig


class MailConfig(AppConfig):
    name = "keel.mail"
    label = "mail"

    def ready(self):
        from keel.jobs.registry import register_periodic
        from keel.mail.tasks import resume_stalled_emails

        # The worker's housekeeping gives back to the queue an e-mail whose task was lost (docs/operations.md).
        register_periodic(resume_stalled_emails)
