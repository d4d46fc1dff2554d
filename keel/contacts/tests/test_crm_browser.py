"""The CRM in a real browser: log in, find a contact, work on it; start a campaign that a real worker sends."""

import re

import pytest
from playwright.sync_api import expect

from keel.contacts.models import ContactList, ListMembership
from keel.contacts.tests.factories import make_contact
from keel.marketing.models import Campaign
from keel.tests.browser import log_in


@pytest.mark.browser
def test_search_open_edit_and_annotate_a_contact(page, company, admin):
    make_contact(company, "grace@navy.example", "Grace", "Hopper")
    ada = make_contact(company, "ada@example.com", "Ada", "Lovelace")
    log_in(page, admin.email)

    page.get_by_label("Search contacts").fill("love")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("link", name="Ada Lovelace")).to_be_visible()
    expect(page.get_by_role("link", name="Grace Hopper")).to_have_count(0)
    page.get_by_role("link", name="Ada Lovelace").click()
    expect(page).to_have_url(re.compile(rf"/contacts/{ada.pk}/$"))

    page.get_by_label("New note").fill("Wants the enterprise plan")
    page.get_by_role("button", name="Add note").click()
    expect(page.get_by_text("Note added.")).to_be_visible()
    expect(page.locator("#notes").get_by_text("Wants the enterprise plan")).to_be_visible()

    page.get_by_label("Tag name").fill("VIP")
    page.get_by_role("button", name="Add tag").click()
    expect(page.locator("#tags").get_by_text("VIP")).to_be_visible()

    page.get_by_role("link", name="Edit").click()
    page.get_by_label("Job title").fill("Analyst")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Contact saved.")).to_be_visible()
    expect(page.locator("#history").get_by_text("Changed job title")).to_be_visible()


@pytest.mark.browser
def test_start_a_campaign_and_watch_it_sent_by_a_real_worker(page, worker, company, admin):
    readers = [make_contact(company, f"reader{i}@example.com", f"Reader{i}", "Smith") for i in range(3)]
    newsletter = ContactList.objects.create(company=company, name="Newsletter")
    for contact in readers:
        ListMembership.objects.create(company=company, contact_list=newsletter, contact=contact)
    log_in(page, admin.email)

    page.goto("/marketing/campaigns/")
    page.get_by_role("link", name="New campaign").click()
    page.get_by_label("Name").fill("Spring launch")
    page.get_by_role("button", name="Create campaign").click()
    page.get_by_role("button", name="Add everyone on the list").click()
    expect(page.get_by_text("3 recipients added.")).to_be_visible()
    page.get_by_role("button", name="Start sending").click()
    expect(page.get_by_text("Sending started.")).to_be_visible()

    # The page refreshes itself while the campaign is sending.
    expect(page.locator("strong.status")).to_have_text("Sent", timeout=60000)
    expect(page.get_by_text("3 recipients · 0 pending · 3 sent")).to_be_visible()
    assert Campaign.objects.get(company=company).status == "sent"
