"""A CRM write and the start of a CRM deletion serialise on the company row (PostgreSQL, real threads).

Each test holds one side's transaction open at a point past its check, starts the other side in a second thread,
and looks in ``pg_stat_activity`` whether that side waits for a lock. Whatever the answer, it then lets both finish
and checks what must never happen: a contact surviving a succeeded deletion, a write accepted after the deletion
started, a campaign sending while a deletion runs.
"""

import threading

import pytest
from django.db import connection

from keel.contacts import actions as contact_actions
from keel.contacts.actions import do_create_contact
from keel.contacts.models import Contact
from keel.datacontrol.crm_deletion import actions as crm_deletion_actions
from keel.datacontrol.crm_deletion.actions import do_start_crm_deletion
from keel.errors import Conflict
from keel.jobs.models import DataJob
from keel.marketing import actions as marketing_actions
from keel.marketing.actions import do_start_campaign
from keel.marketing.models import Campaign, CampaignRecipient
from keel.testing import run_queued_jobs, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


class InThread:
    """Runs ``work()`` in a thread with its own connection; keeps its result or its error and its backend's pid."""

    def __init__(self, work):
        self.work = work
        self.result = self.error = self.pid = None
        self.connected = threading.Event()
        self.thread = threading.Thread(target=self._run)
        self.thread.start()
        assert self.connected.wait(timeout=30), "the thread could not connect"

    def _run(self):
        try:
            connection.ensure_connection()
            self.pid = connection.connection.info.backend_pid
            self.connected.set()
            self.result = self.work()
        except Exception as exc:
            self.error = exc
        finally:
            self.connected.set()
            connection.close()

    def join(self):
        self.thread.join(timeout=60)
        assert not self.thread.is_alive(), "the thread did not finish"


def pause_inside(monkeypatch, module, name):
    """Make ``module.name`` (called inside an action's transaction, past its check) wait until released.
    Returns (paused, release) events."""
    paused, release = threading.Event(), threading.Event()
    original = getattr(module, name)

    def waiting(*args, **kwargs):
        result = original(*args, **kwargs)
        paused.set()
        assert release.wait(timeout=60), "never released"
        return result

    monkeypatch.setattr(module, name, waiting)
    return paused, release


def held_open(monkeypatch, module, name, work):
    """``work()`` in a thread, its transaction held open at ``module.name`` until the returned event is set."""
    paused, release = pause_inside(monkeypatch, module, name)
    holder = InThread(work)
    assert paused.wait(timeout=30), f"{name} was not reached"
    return holder, release


def waits_or_finishes(other):
    """Poll until ``other`` waits for a lock ("waiting") or has finished ("finished")."""

    def state():
        if not other.thread.is_alive():
            return "finished"
        with connection.cursor() as cursor:
            cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [other.pid])
            row = cursor.fetchone()
        return "waiting" if row and row[0] == "Lock" else None

    return wait_for(state, timeout=30, interval=0.02, what="the second thread to wait for a lock or to finish")


def crm_deletions():
    return DataJob.objects.filter(kind=DataJob.Kind.CRM_DELETION)


def test_a_contact_write_that_passed_the_guard_delays_the_start_and_the_job_deletes_it(company):
    with pytest.MonkeyPatch.context() as monkeypatch:
        writer, release = held_open(
            monkeypatch,
            contact_actions,
            "add_entry",
            lambda: do_create_contact(company, {"email": "racing@example.com"}, actor=company.admin),
        )
        deletion = InThread(lambda: do_start_crm_deletion(company, actor="test"))
        seen = waits_or_finishes(deletion)
        if seen == "finished":  # the start did not wait: its job runs while the write is still uncommitted
            run_queued_jobs()
        release.set()
        writer.join()
        deletion.join()
    assert writer.error is None and deletion.error is None
    run_queued_jobs()

    job = crm_deletions().get()
    assert job.state == DataJob.State.SUCCEEDED
    assert not Contact.objects.filter(company=company).exists(), "a contact survived a succeeded deletion"
    assert seen == "waiting"  # the start waited for the write to commit


def test_a_contact_write_waits_for_a_starting_deletion_and_is_refused(company):
    Contact.objects.create(company=company, email="before@example.com")
    with pytest.MonkeyPatch.context() as monkeypatch:
        deletion, release = held_open(
            monkeypatch, crm_deletion_actions, "record", lambda: do_start_crm_deletion(company, actor="test")
        )
        writer = InThread(lambda: do_create_contact(company, {"email": "late@example.com"}, actor=company.admin))
        seen = waits_or_finishes(writer)
        release.set()
        deletion.join()
        writer.join()
    assert deletion.error is None

    assert isinstance(writer.error, Conflict) and writer.error.code == "crm_deletion_in_progress"
    assert seen == "waiting"
    run_queued_jobs()
    assert crm_deletions().get().state == DataJob.State.SUCCEEDED
    assert not Contact.objects.filter(company=company).exists()


def test_a_campaign_start_that_passed_the_guard_makes_the_deletion_start_refuse(company):
    contact = Contact.objects.create(company=company, email="reader@example.com")
    campaign = Campaign.objects.create(company=company, name="Spring")
    CampaignRecipient.objects.create(company=company, campaign=campaign, contact=contact)
    with pytest.MonkeyPatch.context() as monkeypatch:
        starter, release = held_open(
            monkeypatch, marketing_actions, "record", lambda: do_start_campaign(campaign, actor=company.admin)
        )
        deletion = InThread(lambda: do_start_crm_deletion(company, actor="test"))
        seen = waits_or_finishes(deletion)
        release.set()
        starter.join()
        deletion.join()
    assert starter.error is None

    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.SENDING
    assert isinstance(deletion.error, Conflict) and deletion.error.code == "campaign_sending"
    assert not crm_deletions().exists(), "a CRM deletion started while a campaign was sending"
    assert seen == "waiting"
