"""A real ``keel worker`` delivers the e-mails: after the request has answered, after the job has finished."""

import pytest

from keel.accounts.models import Role
from keel.jobs.models import DataJob
from keel.mail.models import OutgoingEmail
from keel.mail.tests.servers import parts, silent_smtp_server, smtp_server
from keel.testing import start_worker, stop_process, wait_for

pytestmark = pytest.mark.usefixtures("transactional_db", "email_in_background")


def worker_with_mail_server(settings, port, timeout="2"):
    return start_worker(
        {
            "KEEL_FILES_DIR": settings.STORAGES["default"]["OPTIONS"]["location"],
            "KEEL_EMAIL_HOST": "127.0.0.1",
            "KEEL_EMAIL_PORT": str(port),
            "KEEL_EMAIL_TIMEOUT": timeout,
        }
    )


def test_the_worker_delivers_an_invitation(api, company, settings):
    with smtp_server() as (port, received):
        worker = worker_with_mail_server(settings, port)
        try:
            member = Role.objects.get(company=company, kind="member")
            response = api.post("users", {"email": "erin@acme.test", "name": "Erin", "role_id": member.pk})
            assert response.status_code == 201
            wait_for(lambda: received, what="the invitation to reach the SMTP server")
        finally:
            stop_process(worker)
    [delivery] = received
    bodies = parts(delivery["message"])
    assert set(bodies) == {"text/plain", "text/html"}
    assert "http://127.0.0.1:8000/set-password/" in bodies["text/plain"]
    assert 'href="http://127.0.0.1:8000/set-password/' in bodies["text/html"]
    assert OutgoingEmail.objects.get(kind="invitation").state == "sent"


def test_a_mail_server_that_never_answers_does_not_hold_up_the_job(api, company, settings):
    with silent_smtp_server() as port:
        worker = worker_with_mail_server(settings, port, timeout="2")
        try:
            assert api.post("exports").status_code == 202
            wait_for(lambda: DataJob.objects.filter(kind="export", state="succeeded").exists(), what="the export")
            job = DataJob.objects.get(kind="export")
            # The notice is queued by the export's completion, delivered from the job outbox just after its commit.
            notice = wait_for(
                lambda: OutgoingEmail.objects.filter(kind="notice", user_id=company.admin.pk).first(),
                what="the notice to be queued",
            )
            wait_for(
                lambda: OutgoingEmail.objects.get(pk=notice.pk).last_error, what="the failed delivery to be recorded"
            )
        finally:
            stop_process(worker)
    notice.refresh_from_db()
    assert notice.last_error == "the mail server did not answer within 2 s"
    assert notice.state == "queued" and notice.attempts == 1  # retried later
    assert (job.finished_at - job.started_at).total_seconds() < 2  # the job never waited for the mail server
    assert notice.claimed_at >= job.finished_at  # sent after the job had finished, not during it
