import pytest

from keel.contacts.models import ContactEvent
from keel.contacts.tests.factories import make_contact
from keel.marketing.models import Campaign, CampaignRecipient, Workflow, WorkflowEnrollment
from keel.marketing.tasks import send_campaign


def error_code(response):
    return response.json()["error"]["code"]


# --- campaigns ----------------------------------------------------------------------------------------------


def test_create_and_list_campaigns(api, other_api, company):
    response = api.post("campaigns", {"name": "Spring launch", "subject": "New!", "body": "Hello"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "draft"
    assert body["recipients"] == {"total": 0, "pending": 0, "sent": 0, "opened": 0, "clicked": 0}
    assert Campaign.objects.get(pk=body["id"]).company == company
    listed = api.get("campaigns").json()
    assert [c["id"] for c in listed["items"]] == [body["id"]] and listed["next_after"] is None
    assert other_api.get("campaigns").json()["items"] == []


def test_campaign_input_is_validated(api):
    response = api.post("campaigns", {"name": ""})
    assert response.status_code == 422
    assert response.json()["error"]["fields"][0]["field"] == "name"
    response = api.post("campaigns", {"name": "   "})
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "name"
    assert not Campaign.objects.exists()


def test_add_recipients_start_and_send(api, campaign, contacts):
    ids = [c.pk for c in contacts]
    response = api.post(f"campaigns/{campaign.pk}/recipients", {"contact_ids": ids + ids[:1]})
    assert response.status_code == 200, response.content
    assert response.json()["added"] == 3
    assert api.post(f"campaigns/{campaign.pk}/recipients", {"contact_ids": ids[:2]}).json()["added"] == 0

    response = api.post(f"campaigns/{campaign.pk}/start")
    assert response.status_code == 200
    assert response.json()["status"] == "sending"

    assert send_campaign.call(campaign.pk) == "sent"
    campaign.refresh_from_db()
    assert campaign.status == "sent" and campaign.finished_at is not None
    assert set(CampaignRecipient.objects.filter(campaign=campaign).values_list("status", flat=True)) == {"sent"}
    events = ContactEvent.objects.filter(kind="campaign_sent")
    assert sorted(events.values_list("contact_id", flat=True)) == sorted(ids)
    assert all(e.data["campaign_id"] == campaign.pk for e in events)
    counts = api.get(f"campaigns/{campaign.pk}").json()["recipients"]
    assert counts == {"total": 3, "pending": 0, "sent": 3, "opened": 0, "clicked": 0}

    recipients = api.get(f"campaigns/{campaign.pk}/recipients", {"limit": 2}).json()
    assert [r["status"] for r in recipients["items"]] == ["sent", "sent"]
    assert recipients["items"][0]["email"] == "reader0@example.com"
    rest = api.get(f"campaigns/{campaign.pk}/recipients", {"after": recipients["next_after"]}).json()
    assert len(rest["items"]) == 1 and rest["next_after"] is None

    again = api.post(f"campaigns/{campaign.pk}/start")
    assert again.status_code == 409 and error_code(again) == "campaign_already_sent"
    late = api.post(f"campaigns/{campaign.pk}/recipients", {"contact_ids": ids})
    assert late.status_code == 409 and error_code(late) == "campaign_not_editable"


def test_sending_works_in_batches_and_each_recipient_gets_one_event(api, company, campaign):
    from keel.marketing.sending import deliver_campaign

    ids = [make_contact(company, f"b{i}@example.com", "B").pk for i in range(7)]
    api.post(f"campaigns/{campaign.pk}/recipients", {"contact_ids": ids})
    api.post(f"campaigns/{campaign.pk}/start")
    assert deliver_campaign(campaign.pk, batch_size=3) == "sent"
    assert deliver_campaign(campaign.pk, batch_size=3) == "sent"  # running again sends nothing twice
    assert ContactEvent.objects.filter(kind="campaign_sent").count() == 7


def test_stop_halts_sending_at_the_next_batch_and_start_resumes(api, company, campaign):
    from keel.marketing import sending

    ids = [make_contact(company, f"s{i}@example.com", "S").pk for i in range(6)]
    api.post(f"campaigns/{campaign.pk}/recipients", {"contact_ids": ids})
    api.post(f"campaigns/{campaign.pk}/start")
    assert sending._send_batch(Campaign.objects.get(pk=campaign.pk), 2)  # one batch went out

    response = api.post(f"campaigns/{campaign.pk}/stop")
    assert response.status_code == 200 and response.json()["status"] == "stopped"
    assert send_campaign.call(campaign.pk) == "stopped"
    assert CampaignRecipient.objects.filter(status="sent").count() == 2
    assert api.get(f"campaigns/{campaign.pk}").json()["recipients"]["pending"] == 4

    assert api.post(f"campaigns/{campaign.pk}/start").json()["status"] == "sending"
    assert send_campaign.call(campaign.pk) == "sent"
    assert ContactEvent.objects.filter(kind="campaign_sent").count() == 6


def test_stop_of_a_draft_or_sent_campaign_is_a_conflict(api, campaign):
    response = api.post(f"campaigns/{campaign.pk}/stop")
    assert response.status_code == 409 and error_code(response) == "campaign_not_started"
    campaign.status = Campaign.Status.SENT
    campaign.save()
    response = api.post(f"campaigns/{campaign.pk}/stop")
    assert response.status_code == 409 and error_code(response) == "campaign_already_sent"


def test_start_enqueues_the_sending_task(api, campaign, contacts, django_capture_on_commit_callbacks):
    from django_tasks_db.models import DBTaskResult

    api.post(f"campaigns/{campaign.pk}/recipients", {"contact_ids": [contacts[0].pk]})
    with django_capture_on_commit_callbacks(execute=True):
        api.post(f"campaigns/{campaign.pk}/start")
    task = DBTaskResult.objects.get(task_path="keel.marketing.tasks.send_campaign")
    assert task.args_kwargs["args"] == [campaign.pk]


def test_recipients_of_another_company_are_refused_and_never_attached(api, campaign, contacts, foreign_contact):
    response = api.post(f"campaigns/{campaign.pk}/recipients", {"contact_ids": [contacts[0].pk, foreign_contact.pk]})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "unknown_contacts"
    assert error["contact_ids"] == [foreign_contact.pk]
    assert str(foreign_contact.pk) in error["message"]
    assert not CampaignRecipient.objects.exists()


def test_recipient_ids_are_validated(api, campaign):
    for body in ({"contact_ids": []}, {"contact_ids": ["x"]}, {}):
        response = api.post(f"campaigns/{campaign.pk}/recipients", body)
        assert response.status_code == 422
        assert response.json()["error"]["fields"][0]["field"].startswith("contact_ids")


def test_campaign_endpoints_answer_404_for_another_companys_campaign(api, foreign_campaign, contacts):
    theirs = foreign_campaign.pk
    assert api.get(f"campaigns/{theirs}").status_code == 404
    assert api.get(f"campaigns/{theirs}/recipients").status_code == 404
    assert api.post(f"campaigns/{theirs}/start").status_code == 404
    assert api.post(f"campaigns/{theirs}/stop").status_code == 404
    assert api.post(f"campaigns/{theirs}/recipients", {"contact_ids": [contacts[0].pk]}).status_code == 404
    foreign_campaign.refresh_from_db()
    assert foreign_campaign.status == "draft" and not CampaignRecipient.objects.exists()


def test_campaign_writes_need_manage_marketing(member_api, campaign, contacts):
    assert member_api.get("campaigns").status_code == 200
    assert member_api.get(f"campaigns/{campaign.pk}").status_code == 200
    for response in (
        member_api.post("campaigns", {"name": "Mine"}),
        member_api.post(f"campaigns/{campaign.pk}/start"),
        member_api.post(f"campaigns/{campaign.pk}/stop"),
        member_api.post(f"campaigns/{campaign.pk}/recipients", {"contact_ids": [contacts[0].pk]}),
    ):
        assert response.status_code == 403
        assert error_code(response) == "permission_denied"
    campaign.refresh_from_db()
    assert campaign.status == "draft" and Campaign.objects.count() == 1 and not CampaignRecipient.objects.exists()


def test_crm_deletion_refuses_start_and_recipients_and_halts_sending(api, company, campaign, contacts, admin):
    from keel.contacts.tests.factories import start_crm_deletion

    api.post(f"campaigns/{campaign.pk}/recipients", {"contact_ids": [contacts[0].pk]})
    api.post(f"campaigns/{campaign.pk}/start")  # sending, but the task has not run yet
    job = start_crm_deletion(company, admin)
    assert send_campaign.call(campaign.pk) == "stopped"
    assert not ContactEvent.objects.filter(kind="campaign_sent").exists()

    response = api.post(f"campaigns/{campaign.pk}/start")
    assert response.status_code == 409 and error_code(response) == "crm_deletion_in_progress"
    response = api.post(f"campaigns/{campaign.pk}/recipients", {"contact_ids": [contacts[1].pk]})
    assert response.status_code == 409 and error_code(response) == "crm_deletion_in_progress"
    assert api.post(f"campaigns/{campaign.pk}/stop").status_code == 200  # stopping is always possible
    assert job.pk


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_sends_a_started_campaign(worker, company, admin):
    import time

    from keel.marketing.actions import do_add_recipients, do_create_campaign, do_start_campaign

    ids = [make_contact(company, f"w{i}@example.com", "W").pk for i in range(5)]
    campaign = do_create_campaign(company, "Worker campaign", actor=admin)
    do_add_recipients(campaign, ids, actor=admin)
    do_start_campaign(campaign, actor=admin)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        campaign.refresh_from_db()
        if campaign.status != "sending":
            break
        time.sleep(0.2)
    assert campaign.status == "sent"
    assert ContactEvent.objects.filter(kind="campaign_sent").count() == 5
    assert not CampaignRecipient.objects.filter(status="pending").exists()


def test_stalled_sending_is_resumed_once(company, campaign, contacts, settings):
    from datetime import timedelta

    from django.utils import timezone
    from django_tasks_db.models import DBTaskResult

    from keel.marketing.tasks import resume_stalled_campaigns

    Campaign.objects.filter(pk=campaign.pk).update(
        status="sending", heartbeat_at=timezone.now() - timedelta(seconds=settings.KEEL_JOB_LEASE_SECONDS + 5)
    )
    assert resume_stalled_campaigns() == [campaign.pk]
    assert resume_stalled_campaigns() == []  # its heartbeat is fresh again, and a task is queued
    assert DBTaskResult.objects.filter(task_path="keel.marketing.tasks.send_campaign").count() == 1


# --- workflows ----------------------------------------------------------------------------------------------


def test_create_activate_deactivate_and_enroll(api, contacts):
    response = api.post("workflows", {"name": "Onboarding", "trigger": "Signed up"})
    assert response.status_code == 201, response.content
    workflow = response.json()
    assert workflow["status"] == "inactive" and workflow["enrollments"] == 0
    wid = workflow["id"]
    assert api.post(f"workflows/{wid}/activate").json()["status"] == "active"
    assert api.post(f"workflows/{wid}/activate").json()["status"] == "active"
    response = api.post(f"workflows/{wid}/enrollments", {"contact_ids": [c.pk for c in contacts]})
    assert response.status_code == 200
    assert response.json() == {"added": 3, "enrollments": 3}
    assert api.post(f"workflows/{wid}/enrollments", {"contact_ids": [contacts[0].pk]}).json()["added"] == 0
    assert ContactEvent.objects.filter(kind="workflow_enrolled").count() == 3
    assert api.get(f"workflows/{wid}").json()["enrollments"] == 3
    enrolled = api.get(f"workflows/{wid}/enrollments").json()
    assert [e["contact_id"] for e in enrolled["items"]] == [c.pk for c in contacts]
    assert api.post(f"workflows/{wid}/deactivate").json()["status"] == "inactive"
    assert [w["id"] for w in api.get("workflows").json()["items"]] == [wid]


def test_workflow_input_is_validated(api, workflow, foreign_contact):
    assert api.post("workflows", {"trigger": "x"}).status_code == 422
    response = api.post(f"workflows/{workflow.pk}/enrollments", {"contact_ids": [foreign_contact.pk]})
    assert response.status_code == 422
    assert response.json()["error"]["contact_ids"] == [foreign_contact.pk]
    assert not WorkflowEnrollment.objects.exists()


def test_workflow_endpoints_answer_404_for_another_companys_workflow(api, foreign_workflow, contacts):
    theirs = foreign_workflow.pk
    assert api.get(f"workflows/{theirs}").status_code == 404
    assert api.get(f"workflows/{theirs}/enrollments").status_code == 404
    assert api.post(f"workflows/{theirs}/activate").status_code == 404
    assert api.post(f"workflows/{theirs}/deactivate").status_code == 404
    assert api.post(f"workflows/{theirs}/enrollments", {"contact_ids": [contacts[0].pk]}).status_code == 404
    foreign_workflow.refresh_from_db()
    assert foreign_workflow.status == "inactive" and not WorkflowEnrollment.objects.exists()


def test_workflow_writes_need_manage_marketing(member_api, workflow, contacts):
    assert member_api.get("workflows").status_code == 200
    assert member_api.get(f"workflows/{workflow.pk}/enrollments").status_code == 200
    for response in (
        member_api.post("workflows", {"name": "Mine"}),
        member_api.post(f"workflows/{workflow.pk}/activate"),
        member_api.post(f"workflows/{workflow.pk}/deactivate"),
        member_api.post(f"workflows/{workflow.pk}/enrollments", {"contact_ids": [contacts[0].pk]}),
    ):
        assert response.status_code == 403
    assert Workflow.objects.count() == 1 and not WorkflowEnrollment.objects.exists()


def test_enrolling_is_refused_during_a_crm_deletion(api, workflow, contacts, crm_locked):
    response = api.post(f"workflows/{workflow.pk}/enrollments", {"contact_ids": [contacts[0].pk]})
    assert response.status_code == 409 and error_code(response) == "crm_deletion_in_progress"
    assert not WorkflowEnrollment.objects.exists()
