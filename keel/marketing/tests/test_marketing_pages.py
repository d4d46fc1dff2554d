from keel.contacts.models import ContactList, ListMembership
from keel.contacts.tests.factories import make_contact
from keel.marketing.models import Campaign, CampaignRecipient, Workflow, WorkflowEnrollment
from keel.marketing.tasks import send_campaign


def messages_of(response):
    return [str(m) for m in response.context["messages"]] if response.context else []


def make_list(company, name, contacts):
    contact_list = ContactList.objects.create(company=company, name=name)
    for contact in contacts:
        ListMembership.objects.create(company=company, contact_list=contact_list, contact=contact)
    return contact_list


# --- campaigns ----------------------------------------------------------------------------------------------


def test_campaign_list_shows_the_companys_campaigns_with_counts(admin_client, campaign, foreign_campaign, contacts):
    CampaignRecipient.objects.create(company=campaign.company, campaign=campaign, contact=contacts[0], status="opened")
    response = admin_client.get("/marketing/campaigns/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "Spring launch" in page and "Their launch" not in page
    assert response.context["rows"][0][1]["opened"] == 1
    assert "New campaign" in page


def test_create_campaign_from_the_form(admin_client, company):
    assert admin_client.get("/marketing/campaigns/new/").status_code == 200
    response = admin_client.post("/marketing/campaigns/new/", {"name": "Autumn", "subject": "Hi", "body": "Text"})
    campaign = Campaign.objects.get(company=company)
    assert response.status_code == 302 and response["Location"] == f"/marketing/campaigns/{campaign.pk}/"
    assert (campaign.name, campaign.subject, campaign.status) == ("Autumn", "Hi", "draft")
    bad = admin_client.post("/marketing/campaigns/new/", {"name": "", "subject": "Kept subject"})
    assert bad.status_code == 422
    assert "The name must be 1 to 150 characters long." in messages_of(bad)
    assert b'value="Kept subject"' in bad.content


def test_add_recipients_by_list_and_by_email_then_start_and_stop(admin_client, company, campaign, contacts):
    newsletter = make_list(company, "Newsletter", contacts[:2])
    url = f"/marketing/campaigns/{campaign.pk}"
    response = admin_client.post(f"{url}/recipients/", {"list_id": newsletter.pk}, follow=True)
    assert "2 recipients added." in messages_of(response)
    response = admin_client.post(
        f"{url}/recipients/", {"emails": "READER2@example.com, reader0@example.com"}, follow=True
    )
    assert "1 recipient added." in messages_of(response)
    response = admin_client.post(f"{url}/recipients/", {"emails": "nobody@example.com"}, follow=True)
    assert any("nobody@example.com" in m for m in messages_of(response))
    assert CampaignRecipient.objects.filter(campaign=campaign).count() == 3

    detail = admin_client.get(f"{url}/")
    assert "reader1@example.com" in detail.content.decode()
    assert "Start sending" in detail.content.decode()

    admin_client.post(f"{url}/start/")
    campaign.refresh_from_db()
    assert campaign.status == "sending"
    assert b'http-equiv="refresh"' in admin_client.get(f"{url}/").content
    admin_client.post(f"{url}/stop/")
    campaign.refresh_from_db()
    assert campaign.status == "stopped"
    admin_client.post(f"{url}/start/")
    send_campaign.call(campaign.pk)
    campaign.refresh_from_db()
    assert campaign.status == "sent"
    page = admin_client.get(f"{url}/").content.decode()
    assert "3 sent" in page and "Start sending" not in page


def test_campaign_page_refuses_foreign_lists(admin_client, campaign, other_company, foreign_contact):
    theirs = make_list(other_company, "Theirs", [foreign_contact])
    response = admin_client.post(f"/marketing/campaigns/{campaign.pk}/recipients/", {"list_id": theirs.pk})
    assert response.status_code == 404
    assert not CampaignRecipient.objects.exists()


def test_campaign_pages_answer_404_for_another_companys_campaign(admin_client, foreign_campaign, contacts):
    base = f"/marketing/campaigns/{foreign_campaign.pk}"
    assert admin_client.get(f"{base}/").status_code == 404
    for action in ("recipients", "start", "stop"):
        assert admin_client.post(f"{base}/{action}/", {"emails": contacts[0].email}).status_code == 404, action
    foreign_campaign.refresh_from_db()
    assert foreign_campaign.status == "draft" and not CampaignRecipient.objects.exists()


def test_campaign_write_pages_answer_403_without_manage_marketing(member_client, campaign, contacts):
    assert member_client.get("/marketing/campaigns/").status_code == 200
    detail = member_client.get(f"/marketing/campaigns/{campaign.pk}/")
    assert detail.status_code == 200 and b"Start sending" not in detail.content
    assert member_client.get("/marketing/campaigns/new/").status_code == 403
    assert member_client.post("/marketing/campaigns/new/", {"name": "Mine"}).status_code == 403
    base = f"/marketing/campaigns/{campaign.pk}"
    for action in ("recipients", "start", "stop"):
        assert member_client.post(f"{base}/{action}/", {"emails": contacts[0].email}).status_code == 403, action
    campaign.refresh_from_db()
    assert campaign.status == "draft" and Campaign.objects.count() == 1 and not CampaignRecipient.objects.exists()


def test_campaign_start_shows_the_crm_deletion_message(admin_client, campaign, crm_locked):
    response = admin_client.post(f"/marketing/campaigns/{campaign.pk}/start/", follow=True)
    assert any("All CRM records are being deleted" in m for m in messages_of(response))
    campaign.refresh_from_db()
    assert campaign.status == "draft"


# --- workflows ----------------------------------------------------------------------------------------------


def test_workflow_pages_create_enroll_activate(admin_client, company, contacts):
    assert admin_client.get("/marketing/workflows/new/").status_code == 200
    response = admin_client.post("/marketing/workflows/new/", {"name": "Welcome", "trigger": "Joined newsletter"})
    workflow = Workflow.objects.get(company=company)
    assert response["Location"] == f"/marketing/workflows/{workflow.pk}/"
    base = f"/marketing/workflows/{workflow.pk}"
    newsletter = make_list(company, "Newsletter", contacts)
    response = admin_client.post(f"{base}/enrollments/", {"list_id": newsletter.pk}, follow=True)
    assert "3 contacts enrolled." in messages_of(response)
    response = admin_client.post(f"{base}/enrollments/", {"emails": contacts[0].email}, follow=True)
    assert "0 contacts enrolled." in messages_of(response)
    admin_client.post(f"{base}/activate/")
    workflow.refresh_from_db()
    assert workflow.status == "active"
    page = admin_client.get(f"{base}/").content.decode()
    assert "3 enrolled" in page and "Deactivate" in page and "reader2@example.com" in page
    admin_client.post(f"{base}/deactivate/")
    workflow.refresh_from_db()
    assert workflow.status == "inactive"
    listing = admin_client.get("/marketing/workflows/").content.decode()
    assert "Welcome" in listing and "Joined newsletter" in listing


def test_workflow_pages_answer_404_for_another_companys_workflow(admin_client, foreign_workflow, contacts):
    base = f"/marketing/workflows/{foreign_workflow.pk}"
    assert admin_client.get(f"{base}/").status_code == 404
    for action in ("enrollments", "activate", "deactivate"):
        assert admin_client.post(f"{base}/{action}/", {"emails": contacts[0].email}).status_code == 404, action
    foreign_workflow.refresh_from_db()
    assert foreign_workflow.status == "inactive" and not WorkflowEnrollment.objects.exists()


def test_workflow_write_pages_answer_403_without_manage_marketing(member_client, workflow, contacts):
    assert member_client.get("/marketing/workflows/").status_code == 200
    assert member_client.get(f"/marketing/workflows/{workflow.pk}/").status_code == 200
    assert member_client.get("/marketing/workflows/new/").status_code == 403
    assert member_client.post("/marketing/workflows/new/", {"name": "Mine"}).status_code == 403
    base = f"/marketing/workflows/{workflow.pk}"
    for action in ("enrollments", "activate", "deactivate"):
        assert member_client.post(f"{base}/{action}/", {"emails": contacts[0].email}).status_code == 403, action
    workflow.refresh_from_db()
    assert workflow.status == "inactive" and not WorkflowEnrollment.objects.exists()


def test_marketing_pages_need_login(client, campaign):
    assert client.get("/marketing/campaigns/").status_code == 302
    assert client.get(f"/marketing/campaigns/{campaign.pk}/").status_code == 302
    assert client.get("/marketing/workflows/").status_code == 302


def test_recipients_page_is_paginated(admin_client, company, campaign):
    contacts = [make_contact(company, f"r{i}@example.com", "R") for i in range(55)]
    for contact in contacts:
        CampaignRecipient.objects.create(company=company, campaign=campaign, contact=contact)
    first = admin_client.get(f"/marketing/campaigns/{campaign.pk}/")
    assert len(first.context["page"].items) == 50
    nxt = first.context["page"].next_after
    second = admin_client.get(f"/marketing/campaigns/{campaign.pk}/?after={nxt}")
    assert len(second.context["page"].items) == 5
