"""Inputs that used to answer 500 (ids out of a database integer's range, Unicode digits): each is a 4xx naming the
field. Every way a campaign stops goes through one audited stop."""

import pytest

from keel.audit.models import AuditEvent
from keel.contacts.models import ContactList
from keel.marketing.models import Campaign, CampaignRecipient, WorkflowEnrollment
from keel.marketing.stopping import stop_active_campaigns

TOO_BIG = 2**63


@pytest.mark.parametrize("path", ["campaigns/{campaign}/recipients", "workflows/{workflow}/enrollments"])
def test_a_contact_id_above_the_database_range_is_a_422_naming_contact_ids(api, campaign, workflow, contacts, path):
    url = path.format(campaign=campaign.pk, workflow=workflow.pk)
    response = api.post(url, {"contact_ids": [contacts[0].pk, TOO_BIG, 2**70]})
    assert response.status_code == 422
    error = response.json()["error"]
    assert (error["code"], error["field"], error["contact_ids"]) == (
        "unknown_contacts",
        "contact_ids",
        [TOO_BIG, 2**70],
    )
    assert not CampaignRecipient.objects.exists() and not WorkflowEnrollment.objects.exists()


@pytest.mark.parametrize("value", ["²", "99999999999999999999"])
def test_an_invalid_after_is_a_400_on_pages_and_a_422_in_the_api(admin_client, api, campaign, workflow, value):
    for page in ("/marketing/campaigns/", f"/marketing/campaigns/{campaign.pk}/", "/marketing/workflows/"):
        assert admin_client.get(page, {"after": value}).status_code == 400
        assert admin_client.get(page, {"before": value}).status_code == 400
    for path in ("campaigns", f"campaigns/{campaign.pk}/recipients", "workflows"):
        response = api.get(path, {"after": value})
        assert response.status_code == 422
        assert response.json()["error"]["fields"][0]["field"] == "after"


@pytest.mark.parametrize("value", ["²", "99999999999999999999"])
def test_an_invalid_list_id_in_the_add_contacts_form_is_refused_naming_the_list(admin_client, campaign, company, value):
    ContactList.objects.create(company=company, name="Newsletter")
    response = admin_client.post(f"/marketing/campaigns/{campaign.pk}/recipients/", {"list_id": value}, follow=True)
    assert response.status_code == 200
    assert "Choose a list from the menu." in response.content.decode()
    assert not CampaignRecipient.objects.exists()


def test_keel_stopping_campaigns_is_audited_with_the_reason(company, campaign):
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.SENDING)
    draft = Campaign.objects.create(company=company, name="Draft")
    stop_active_campaigns(company, reason="company_deletion")
    campaign.refresh_from_db()
    draft.refresh_from_db()
    assert (campaign.status, draft.status) == (Campaign.Status.STOPPED, Campaign.Status.DRAFT)
    [entry] = AuditEvent.objects.filter(action="campaign.stopped")
    assert entry.actor is None and entry.metadata == {"name": campaign.name, "reason": "company_deletion"}
