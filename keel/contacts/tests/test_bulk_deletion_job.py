"""A bulk deletion above KEEL_BULK_DELETE_INLINE_LIMIT is a ``contact_deletion`` job: what it deletes (exactly the
selection as it was requested, with everything that belongs to those contacts), its progress, what it locks and what
it is refused during, the contacts page's progress bar, and a run killed mid-way."""

from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile

from keel.accounts.models import Notice
from keel.audit.models import AuditEvent
from keel.contacts import bulk_deletion
from keel.contacts.bulk_actions import Selection, do_bulk_delete_contacts
from keel.contacts.listing import ContactFilter
from keel.contacts.models import Attachment, Contact, ContactEvent, ContactList, ContactTag, ListMembership, Note, Tag
from keel.contacts.tests.factories import make_contact
from keel.datacontrol.crm_deletion.actions import PERMISSION, do_start_crm_deletion
from keel.errors import Conflict
from keel.jobs.models import DataJob
from keel.jobs.progress import Progress
from keel.jobs.runner import claim, run_job
from keel.jobs.tasks import reap_stale_jobs
from keel.marketing.models import Campaign, CampaignRecipient
from keel.testing import grant, run_queued_jobs


@pytest.fixture
def crowd(company, settings):
    """Eight contacts, four Smiths and four Joneses, each with history, a note, a tag, a list membership and a
    campaign recipient; the inline limit is set below the number of Smiths."""
    settings.KEEL_BULK_DELETE_INLINE_LIMIT = 3
    settings.KEEL_BATCH_SIZE = 2  # several batches
    tag = Tag.objects.create(company=company, name="vip")
    members = ContactList.objects.create(company=company, name="Newsletter")
    campaign = Campaign.objects.create(company=company, name="Spring", created_by=company.admin)
    people = []
    for i in range(8):
        contact = make_contact(company, f"p{i}@example.com", f"Pat{i}", "Smith" if i % 2 else "Jones")
        contact.events.create(company=company, kind="call", title="Called")
        Note.objects.create(company=company, contact=contact, author=company.admin, body="note")
        ContactTag.objects.create(company=company, contact=contact, tag=tag)
        ListMembership.objects.create(company=company, contact=contact, contact_list=members)
        CampaignRecipient.objects.create(company=company, contact=contact, campaign=campaign)
        people.append(contact)
    return people


def smiths(people):
    return [c for c in people if c.last_name == "Smith"]


def error(response):
    return response.json()["error"]


def left(company, model=Contact):
    """Ids of the company's contacts left, or of the contacts the company's rows of ``model`` point at."""
    column = "id" if model is Contact else "contact_id"
    return set(model.objects.filter(company=company).values_list(column, flat=True))


# --- inline below the limit, a job above it ------------------------------------------------------------------------


def test_up_to_the_inline_limit_contacts_are_deleted_in_the_request(api, company, crowd):
    response = api.post("contacts/bulk/delete", {"contact_ids": [c.pk for c in crowd[:3]], "confirm": True})
    assert response.status_code == 200 and response.json() == {"affected": 3}
    assert not DataJob.objects.exists()
    assert AuditEvent.objects.get(action="contacts.bulk_deleted").metadata == {"deleted": 3, "selection": "selected"}


def test_a_larger_selection_is_a_job_that_deletes_exactly_the_matching_contacts_and_their_children(
    api, company, other_company, crowd, django_capture_on_commit_callbacks
):
    doomed = smiths(crowd)
    attachment = Attachment(company=company, contact=doomed[0], filename="a.txt", size=1)
    attachment.file.save("a.txt", ContentFile(b"x"), save=True)
    stored = attachment.file.name
    theirs = make_contact(other_company, "smith@globex.example", "Sam", "Smith")

    response = api.post("contacts/bulk/delete", {"filter": {"q": "smith"}, "confirm": True})

    assert response.status_code == 202, response.content
    job = response.json()["job"]
    assert job["kind"] == "contact_deletion" and job["state"] == "queued"
    assert api.get(f"jobs/{job['id']}").json() == job
    assert Contact.objects.filter(company=company).count() == 8  # nothing is deleted in the request
    late = make_contact(company, "late@example.com", "Pat", "Smith")  # created after the request: kept

    with django_capture_on_commit_callbacks(execute=True):
        [finished] = run_queued_jobs()

    assert finished.state == DataJob.State.SUCCEEDED
    summary = "Deleted 4 contacts, with their history, notes and attachments."
    assert finished.result == {"deleted": 4, "summary": summary}
    assert (finished.progress_done, finished.progress_total) == (4, 4)
    kept = {c.pk for c in crowd if c not in doomed} | {late.pk}
    assert left(company) == kept
    for model in (ContactEvent, Note, ContactTag, ListMembership, CampaignRecipient):
        assert left(company, model) == kept - {late.pk}, model
    assert not Attachment.objects.exists() and not attachment.file.storage.exists(stored)
    assert Contact.objects.filter(pk=theirs.pk).exists()  # another company's Smith
    [event] = AuditEvent.objects.filter(action="contacts.bulk_deleted")
    assert event.metadata == {"deleted": 4, "selection": "matching a filter"} and event.target_id == str(job["id"])
    assert Notice.objects.get(user=company.admin).message.startswith("4 contacts have been deleted")
    assert api.get(f"jobs/{job['id']}").json()["progress"] == {"done": 4, "total": 4, "percent": 100}


def test_explicit_ids_above_the_limit_are_a_job_deleting_those_ids(api, company, crowd):
    chosen = [c.pk for c in crowd[2:7]]
    response = api.post("contacts/bulk/delete", {"contact_ids": chosen, "confirm": True})
    assert response.status_code == 202
    [finished] = run_queued_jobs()
    assert finished.result["deleted"] == 5
    assert left(company) == {c.pk for c in crowd} - set(chosen)


def test_unknown_ids_are_refused_before_any_job_starts(api, crowd, foreign_contact):
    ids = [c.pk for c in crowd[:4]] + [foreign_contact.pk]
    response = api.post("contacts/bulk/delete", {"contact_ids": ids, "confirm": True})
    assert response.status_code == 422 and error(response)["code"] == "unknown_contacts"
    assert not DataJob.objects.exists()


def test_the_job_reports_its_progress_batch_by_batch(company, admin, crowd):
    deletion = do_bulk_delete_contacts(company, Selection(contact_filter=ContactFilter()), actor=admin)
    running = claim(deletion.job.pk)
    stored = []

    class Watching(Progress):
        def checkpoint(self):
            super().checkpoint()
            row = DataJob.objects.get(pk=running.pk)
            stored.append((row.progress_done, row.progress_total, row.step))

    bulk_deletion.run_contact_deletion(running, Watching(running, heartbeat=False))
    assert stored == [(done, 8, "Deleting contacts") for done in (0, 2, 4, 6)]


def test_a_tag_of_the_filter_deleted_meanwhile_ends_the_job_with_what_was_deleted(api, company, crowd):
    vip = Tag.objects.get(company=company, name="vip")
    job = api.post("contacts/bulk/delete", {"filter": {"tag_id": vip.pk}, "confirm": True}).json()["job"]
    vip.delete()
    [finished] = run_queued_jobs()
    assert finished.pk == job["id"] and finished.state == DataJob.State.SUCCEEDED
    assert finished.result["deleted"] == 0 and Contact.objects.filter(company=company).count() == 8


# --- who may, and what it is refused during ------------------------------------------------------------------------


def test_another_company_sees_nothing_of_the_job_and_a_reader_may_not_start_one(
    api, other_api, reader_api, company, crowd
):
    assert reader_api.post("contacts/bulk/delete", {"filter": {}, "confirm": True}).status_code == 403
    job = api.post("contacts/bulk/delete", {"filter": {}, "confirm": True}).json()["job"]
    assert other_api.get(f"jobs/{job['id']}").status_code == 404
    assert other_api.post("contacts/bulk/delete", {"filter": {}, "confirm": True}).json() == {"affected": 0}
    # Everyone of the company follows it on the contacts page.
    assert reader_api.get(f"jobs/{job['id']}").status_code == 200
    assert reader_api.post(f"jobs/{job['id']}/cancel").status_code == 403
    assert api.post(f"jobs/{job['id']}/cancel").json()["error"]["code"] == "not_cancellable"
    assert Contact.objects.filter(company=company).count() == 8


def test_refused_during_a_crm_deletion(api, crowd, crm_locked):
    response = api.post("contacts/bulk/delete", {"filter": {}, "confirm": True})
    assert response.status_code == 409 and error(response)["code"] == "crm_deletion_in_progress"
    assert not DataJob.objects.filter(kind=DataJob.Kind.CONTACT_DELETION).exists()
    assert Contact.objects.count() == 8


def test_while_it_runs_imports_crm_deletion_and_another_large_deletion_wait_small_deletions_do_not(
    api, company, admin, crowd
):
    job = api.post("contacts/bulk/delete", {"filter": {"q": "smith"}, "confirm": True}).json()["job"]
    csv = SimpleUploadedFile("people.csv", b"Email\nnew@example.com\n", content_type="text/csv")
    response = api.upload("imports", {"file": csv})
    assert response.status_code == 409 and error(response)["code"] == "operation_in_progress"
    assert error(response)["message"].startswith("Contacts are being deleted in the background")
    assert error(response)["job_id"] == job["id"]
    response = api.post("contacts/bulk/delete", {"filter": {"q": "jones"}, "confirm": True})
    assert response.status_code == 409 and error(response)["job_id"] == job["id"]
    grant(company, PERMISSION)
    admin.role.refresh_from_db()
    with pytest.raises(Conflict) as refused:
        do_start_crm_deletion(company, actor=admin)
    assert refused.value.code == "operation_in_progress"
    jones = [c.pk for c in crowd if c.last_name == "Jones"][:2]
    assert api.post("contacts/bulk/delete", {"contact_ids": jones, "confirm": True}).json() == {"affected": 2}

    run_queued_jobs()
    assert left(company) == {c.pk for c in crowd if c.last_name == "Jones"} - set(jones)
    csv = SimpleUploadedFile("people.csv", b"Email\nnew@example.com\n", content_type="text/csv")
    assert api.upload("imports", {"file": csv}).status_code == 202


# --- the contacts page -----------------------------------------------------------------------------------------------


def test_the_contacts_page_shows_the_deletions_progress_bar_then_its_outcome_once(
    admin_client, reader_client, company, crowd
):
    form = {"action": "delete", "scope": "matching", "q": "smith"}
    confirm = admin_client.post("/contacts/bulk/", form).content.decode()
    assert "Delete 4 contacts?" in confirm and "deleted in the background" in confirm
    page = admin_client.post("/contacts/bulk/", {**form, "confirmed": "yes"}, follow=True).content.decode()
    job = DataJob.objects.get(kind=DataJob.Kind.CONTACT_DELETION)
    assert "being deleted in the background" in page
    assert 'id="contact-deletion-running"' in page and f'data-job-progress="/jobs/{job.pk}/progress/"' in page
    assert "data-reload-on-finish" in page
    assert "Imports are not possible while contacts are being deleted." in page
    assert 'id="contact-deletion-running"' in reader_client.get("/contacts/").content.decode()
    assert reader_client.get(f"/jobs/{job.pk}/progress/?format=json").json()["kind"] == "contact_deletion"

    run_queued_jobs()
    page = admin_client.get("/contacts/").content.decode()
    assert 'id="contact-deletion-finished"' in page and "Deleted 4 contacts" in page
    assert 'id="contact-deletion-finished"' not in admin_client.get("/contacts/").content.decode()  # once
    assert 'id="contact-deletion-finished"' not in reader_client.get("/contacts/").content.decode()  # not theirs


# --- resumable -------------------------------------------------------------------------------------------------------


class CrashingProgress(Progress):
    """The real progress reporter of a run that dies (as a SIGKILL would) at its n-th batch boundary."""

    def __init__(self, job, crash_in_batch):
        super().__init__(job, heartbeat=False)
        self.crash_in_batch = crash_in_batch
        self.batches = 0

    def checkpoint(self):
        super().checkpoint()
        self.batches += 1
        if self.batches == self.crash_in_batch:
            raise SystemExit("killed")


def resume(job):
    DataJob.objects.filter(pk=job.pk).update(heartbeat_at=job.heartbeat_at - timedelta(hours=1))
    assert reap_stale_jobs() == [job.pk]
    return run_job(job.pk)


@pytest.mark.parametrize("crash_in_batch", [1, 2, 4])
def test_a_run_killed_mid_way_is_resumed_and_deletes_every_contact_once(company, admin, crowd, crash_in_batch):
    deletion = do_bulk_delete_contacts(company, Selection(contact_filter=ContactFilter()), actor=admin)
    running = claim(deletion.job.pk)
    with pytest.raises(SystemExit):
        bulk_deletion.run_contact_deletion(running, CrashingProgress(running, crash_in_batch))
    killed = DataJob.objects.get(pk=running.pk)
    assert killed.state == DataJob.State.RUNNING and killed.cursor["deleted"] == 2 * (crash_in_batch - 1)
    assert Contact.objects.filter(company=company).count() == 8 - killed.cursor["deleted"]

    finished = resume(killed)

    assert finished.state == DataJob.State.SUCCEEDED and finished.attempts == 2
    assert finished.result["deleted"] == 8 and (finished.progress_done, finished.progress_total) == (8, 8)
    assert not Contact.objects.filter(company=company).exists() and not ContactEvent.objects.exists()
    assert AuditEvent.objects.filter(action="contacts.bulk_deleted").count() == 1


def test_a_run_killed_after_its_work_neither_deletes_nor_audits_twice(company, admin, crowd):
    deletion = do_bulk_delete_contacts(company, Selection(contact_filter=ContactFilter()), actor=admin)
    running = claim(deletion.job.pk)
    bulk_deletion.run_contact_deletion(running, Progress(running, heartbeat=False))  # killed before being marked done
    latecomer = make_contact(company, "late@example.com", "Late")

    finished = resume(running)

    assert finished.state == DataJob.State.SUCCEEDED and finished.result["deleted"] == 8
    assert list(Contact.objects.filter(company=company)) == [latecomer]
    assert AuditEvent.objects.filter(action="contacts.bulk_deleted").count() == 1
    assert Notice.objects.filter(user=admin).count() == 1


def test_a_job_that_failed_for_good_is_audited_and_told(company, admin, crowd):
    deletion = do_bulk_delete_contacts(company, Selection(contact_filter=ContactFilter()), actor=admin)
    DataJob.objects.filter(pk=deletion.job.pk).update(
        state=DataJob.State.FAILED, error="The database was unreachable.", cursor={"deleted": 2}
    )
    bulk_deletion.contact_deletion_failed(DataJob.objects.get(pk=deletion.job.pk))  # what the runner calls then
    event = AuditEvent.objects.get(action="contacts.bulk_deletion_failed")
    assert event.metadata == {"error": "The database was unreachable.", "deleted": 2}
    assert "2 contacts had been deleted; the others are still there" in Notice.objects.get(user=admin).message
