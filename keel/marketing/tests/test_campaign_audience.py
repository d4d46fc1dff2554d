"""Campaign recipients from a list or a filter, and no start without recipients."""

from keel.contacts.models import ContactList, ListMembership, Tag
from keel.marketing.models import Campaign, CampaignRecipient


def error(response):
    return response.json()["error"]


def test_a_campaign_without_recipients_cannot_be_started(api, campaign, contacts):
    response = api.post(f"campaigns/{campaign.pk}/start")
    assert response.status_code == 409
    assert error(response)["code"] == "campaign_without_recipients"
    assert "no recipients" in error(response)["message"]
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT


def test_recipients_from_a_filter_and_from_a_list(api, company, campaign, contacts, other_company):
    vip = Tag.objects.create(company=company, name="vip")
    contacts[0].tag_links.create(company=company, tag=vip)
    response = api.post(f"campaigns/{campaign.pk}/recipients/matching", {"tag_id": vip.pk})
    assert response.status_code == 200, response.content
    assert response.json()["added"] == 1
    partners = ContactList.objects.create(company=company, name="Partners")
    for contact in contacts[:2]:
        ListMembership.objects.create(company=company, contact_list=partners, contact=contact)
    response = api.post(f"campaigns/{campaign.pk}/recipients/matching", {"list_id": partners.pk})
    assert response.json()["added"] == 1
    response = api.post(f"campaigns/{campaign.pk}/recipients/matching", {})
    assert response.json() == {"added": 1, "recipients": {**response.json()["recipients"], "total": 3}}
    assert api.post(f"campaigns/{campaign.pk}/start").json()["status"] == "sending"


def test_matching_recipients_404_for_another_companys_campaign_or_list_and_403_for_a_member(
    api, member_api, campaign, foreign_campaign, contacts, other_company
):
    theirs = ContactList.objects.create(company=other_company, name="Theirs")
    assert api.post(f"campaigns/{foreign_campaign.pk}/recipients/matching", {}).status_code == 404
    assert api.post(f"campaigns/{campaign.pk}/recipients/matching", {"list_id": theirs.pk}).status_code == 404
    response = member_api.post(f"campaigns/{campaign.pk}/recipients/matching", {})
    assert response.status_code == 403
    assert not CampaignRecipient.objects.exists()


def test_matching_recipients_refused_during_a_crm_deletion(api, campaign, contacts, crm_locked):
    response = api.post(f"campaigns/{campaign.pk}/recipients/matching", {})
    assert response.status_code == 409
    assert error(response)["code"] == "crm_deletion_in_progress"


def test_campaign_page_adds_everyone_matching_and_disables_start_without_recipients(
    admin_client, company, campaign, contacts, other_company
):
    url = f"/marketing/campaigns/{campaign.pk}/"
    page = admin_client.get(url).content.decode()
    assert "Add recipients before starting" in page and 'disabled aria-describedby="start-reason"' in page
    response = admin_client.post(f"{url}recipients/matching/", {"q": "reader1"}, follow=True)
    assert "1 recipient added." in response.content.decode()
    assert list(CampaignRecipient.objects.values_list("contact_id", flat=True)) == [contacts[1].pk]
    assert "Add recipients before starting" not in admin_client.get(url).content.decode()
    theirs = Tag.objects.create(company=other_company, name="theirs")
    assert admin_client.post(f"{url}recipients/matching/", {"tag_id": theirs.pk}).status_code == 404


def test_campaign_page_matching_is_403_for_a_member_and_404_for_another_company(
    member_client, admin_client, campaign, foreign_campaign, contacts
):
    assert member_client.post(f"/marketing/campaigns/{campaign.pk}/recipients/matching/", {}).status_code == 403
    assert admin_client.post(f"/marketing/campaigns/{foreign_campaign.pk}/recipients/matching/", {}).status_code == 404
    assert not CampaignRecipient.objects.exists()
