"""E-mail goes through the outbox: queued in the request's or the job's transaction, delivered by the background
task against a real SMTP server on loopback, and a delivery that fails is recorded, shown and retried."""

import re
import time

import pytest
from django.test import Client
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from keel.accounts.models import Role
from keel.accounts.notify import notify
from keel.mail import outbox
from keel.mail.models import OutgoingEmail
from keel.mail.outbox import absolute_url
from keel.mail.tasks import deliver_email, resume_stalled_emails
from keel.mail.tests.servers import parts, silent_smtp_server, smtp_mailers, smtp_server

pytestmark = pytest.mark.usefixtures("email_in_background")


def delivery_tasks():
    """The e-mail ids of the delivery tasks waiting in the queue, in order."""
    waiting = DBTaskResult.objects.filter(task_path=deliver_email.module_path, status="READY").order_by("enqueued_at")
    return [task.args_kwargs["args"][0] for task in waiting]


def invite(api, company, email="erin@acme.test"):
    member = Role.objects.get(company=company, kind="member")
    response = api.post("users", {"email": email, "name": "Erin", "role_id": member.pk})
    assert response.status_code == 201, response.content
    return response.json()


def test_links_never_get_a_double_slash(settings):
    settings.SITE_URL = "https://crm.example.com/"
    assert absolute_url("/set-password/x/") == "https://crm.example.com/set-password/x/"
    settings.SITE_URL = "https://crm.example.com"
    assert absolute_url("/set-password/x/") == "https://crm.example.com/set-password/x/"
    assert absolute_url("") == "https://crm.example.com/"


def test_an_invitation_is_sent_in_the_background_with_both_parts(
    api, company, settings, django_capture_on_commit_callbacks
):
    settings.SITE_URL = "http://crm.example.com:8080/"  # a trailing slash must not give // in the link
    with smtp_server() as (port, received):
        settings.MAILERS = smtp_mailers(port)
        with django_capture_on_commit_callbacks(execute=True):
            user = invite(api, company)
        assert received == []  # nothing was sent inside the request
        assert user["invitation_email"] == {"state": "queued", "error": None, "status": "e-mail queued"}
        [email_id] = delivery_tasks()
        assert deliver_email.call(email_id) == "sent"  # what the worker runs

    [delivery] = received
    assert delivery["to"] == ["erin@acme.test"]
    message = delivery["message"]
    assert message["Subject"] == "You are invited to Acme on Keel" and "no-reply@keel.localhost" in message["From"]
    bodies = parts(message)
    assert set(bodies) == {"text/plain", "text/html"}
    text_link = re.search(r"http://crm\.example\.com:8080(/set-password/\S+/)", bodies["text/plain"]).group(1)
    html_link = re.search(r'href="http://crm\.example\.com:8080(/set-password/[^"]+/)"', bodies["text/html"]).group(1)
    assert text_link == html_link and "//set-password" not in bodies["text/plain"] + bodies["text/html"]
    assert "erin@acme.test" in Client().get(text_link).content.decode()  # the link works

    shown = api.get(f"users/{user['id']}").json()["invitation_email"]
    assert shown == {"state": "sent", "error": None, "status": "e-mail sent"}
    assert OutgoingEmail.objects.get(pk=email_id).text == ""  # the link is not kept once sent


def test_job_notices_are_sent_with_both_parts(admin, settings, django_capture_on_commit_callbacks):
    """What export, import and CRM deletion jobs call when they finish (keel/accounts/notify.py)."""
    with smtp_server() as (port, received):
        settings.MAILERS = smtp_mailers(port)
        with django_capture_on_commit_callbacks(execute=True):
            notify(admin, "Your Keel export is ready", "Your export is ready.", "/settings/data/export/")
        assert received == []
        for email_id in delivery_tasks():
            deliver_email.call(email_id)
    [delivery] = received
    bodies = parts(delivery["message"])
    assert delivery["message"]["Subject"] == "Your Keel export is ready" and delivery["to"] == [admin.email]
    assert "Your export is ready.\n\nhttp://127.0.0.1:8000/settings/data/export/" in bodies["text/plain"]
    assert 'href="http://127.0.0.1:8000/settings/data/export/"' in bodies["text/html"]


def test_a_mail_server_that_never_answers_does_not_block_the_request(
    api, admin_client, company, settings, django_capture_on_commit_callbacks
):
    settings.KEEL_EMAIL_TIMEOUT = 1
    with silent_smtp_server() as port:
        settings.MAILERS = smtp_mailers(port, timeout=1)
        began = time.monotonic()
        with django_capture_on_commit_callbacks(execute=True):
            user = invite(api, company)
        assert time.monotonic() - began < 1  # the request did not wait for the mail server
        [email_id] = delivery_tasks()

        began = time.monotonic()
        assert deliver_email.call(email_id) == "queued"  # to be retried
        assert 0.9 < time.monotonic() - began < 5  # gave up after KEEL_EMAIL_TIMEOUT

    reason = "the mail server did not answer within 1 s"
    shown = api.get(f"users/{user['id']}").json()["invitation_email"]
    assert shown == {"state": "queued", "error": reason, "status": f"e-mail not delivered: {reason} (retrying)"}
    assert f"e-mail not delivered: {reason}" in admin_client.get("/settings/users/").content.decode()
    retry = OutgoingEmail.objects.get(pk=email_id)
    assert retry.attempts == 1 and retry.next_attempt_at > timezone.now()
    # Besides the task run by hand above, the retry waits in the queue until its back-off is over.
    retry_task = DBTaskResult.objects.filter(task_path=deliver_email.module_path).order_by("enqueued_at").last()
    assert retry_task.args_kwargs["args"] == [email_id] and retry_task.run_after > timezone.now()


def test_retries_back_off_then_give_up_and_say_why(api, company, settings, django_capture_on_commit_callbacks):
    settings.KEEL_EMAIL_MAX_ATTEMPTS = 3
    with django_capture_on_commit_callbacks(execute=True):
        user = invite(api, company)
    [email_id] = delivery_tasks()
    settings.MAILERS = smtp_mailers(closed_port())
    delays = []
    for _ in range(3):
        OutgoingEmail.objects.filter(pk=email_id).update(next_attempt_at=timezone.now())
        before = timezone.now()
        deliver_email.call(email_id)
        email = OutgoingEmail.objects.get(pk=email_id)
        delays.append(round((email.next_attempt_at - before).total_seconds()))
    assert delays[:2] == [30, 60]  # doubling from KEEL_EMAIL_RETRY_SECONDS
    assert email.state == "failed" and email.attempts == 3 and email.text == email.html == ""
    shown = api.get(f"users/{user['id']}").json()["invitation_email"]
    assert shown["state"] == "failed" and shown["status"].startswith("e-mail not delivered: ")
    assert "(retrying)" not in shown["status"] and "refused" in shown["status"]


def test_the_deletion_confirmation_is_never_given_up(db, settings):
    settings.KEEL_EMAIL_MAX_ATTEMPTS = 1
    settings.MAILERS = smtp_mailers(closed_port())
    email = outbox.queue_email(
        "owner@gone.test", OutgoingEmail.Kind.DELETION_CONFIRMATION, "deletion_confirmation", {"receipt_text": "x"}
    )
    for _ in range(3):
        OutgoingEmail.objects.filter(pk=email.pk).update(next_attempt_at=timezone.now())
        assert deliver_email.call(email.pk) == "queued"
    assert OutgoingEmail.objects.get(pk=email.pk).attempts == 3


def test_a_lost_task_is_enqueued_again_by_the_housekeeping(company, settings):
    email = outbox.queue_email("a@acme.test", OutgoingEmail.Kind.NOTICE, "notice", {"subject": "s", "message": "m"})
    assert delivery_tasks() == []  # its enqueue was lost (the transaction never reported its commit)
    assert resume_stalled_emails() == []  # not overdue yet
    OutgoingEmail.objects.filter(pk=email.pk).update(next_attempt_at=timezone.now() - timezone.timedelta(hours=1))
    assert resume_stalled_emails() == [email.pk]
    assert delivery_tasks() == [email.pk]
    assert resume_stalled_emails() == []  # its task is waiting: nothing to do
    # A worker killed while sending: the row goes back to the queue, delivered at least once.
    OutgoingEmail.objects.filter(pk=email.pk).update(state="sending", claimed_at=timezone.now().replace(year=2000))
    resume_stalled_emails()
    assert OutgoingEmail.objects.get(pk=email.pk).state == "queued"


def test_notify_keeps_the_notice_when_the_e_mail_cannot_be_queued_twice(admin, settings):
    """A duplicate task (the housekeeping and the original both ran) sends once: the row is claimed."""
    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
    notify(admin, "Export ready", "Your export is ready.", "/settings/data/export/")
    email = OutgoingEmail.objects.get(user_id=admin.pk)
    assert deliver_email.call(email.pk) == "sent"
    assert deliver_email.call(email.pk) is None

    from django.core import mail

    assert len(mail.outbox) == 1


def closed_port():
    from keel.mail.tests.servers import free_port

    return free_port()
