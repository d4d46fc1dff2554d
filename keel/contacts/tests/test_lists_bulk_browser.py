"""Lists and bulk actions in a real browser: filter, select, tag, add to a new list, see the list's members,
rename it, delete the selection after the confirmation."""

import re

import pytest
from playwright.sync_api import expect

from keel.contacts.models import Contact, ContactList
from keel.contacts.tests.factories import make_contact
from keel.tests.browser import log_in


@pytest.mark.browser
def test_lists_and_bulk_actions(page, company, admin):
    for i in range(4):
        make_contact(company, f"smith{i}@example.com", f"Jo{i}", "Smith", lifecycle_stage="lead")
    make_contact(company, "ada@example.com", "Ada", "Lovelace", lifecycle_stage="customer")
    log_in(page, admin.email)
    expect(page.locator(".contact-total")).to_have_text("5 contacts")

    page.get_by_label("Lifecycle stage").select_option("lead")
    page.get_by_role("button", name="Search").click()
    expect(page.locator(".contact-total")).to_have_text("4 contacts match")

    page.get_by_label("Select Jo0 Smith").check()
    page.get_by_label("Select Jo1 Smith").check()
    page.get_by_label("Bulk action").select_option("add_tag")
    page.get_by_label("Bulk tag name").fill("warm")
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_text("Tag “warm” added to 2 contacts.")).to_be_visible()

    page.get_by_label("all 4 matching").check()
    page.get_by_label("Bulk action").select_option("add_to_list")
    page.get_by_label("Bulk new list name").fill("Leads")
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_text("4 contacts added to the list Leads.")).to_be_visible()

    page.get_by_role("link", name="Lists", exact=True).click()
    expect(page).to_have_url(re.compile(r"/contacts/lists/$"))
    row = page.get_by_role("row").filter(has_text="Leads")
    expect(row.get_by_role("cell").nth(1)).to_have_text("4")
    page.get_by_label("New name of Leads").fill("Hot leads")
    page.get_by_role("button", name="Rename").click()
    expect(page.get_by_text("List Leads renamed to Hot leads.")).to_be_visible()
    page.get_by_role("link", name="Hot leads").click()
    expect(page.locator(".contact-total")).to_have_text("4 contacts match")

    page.get_by_role("link", name="Name").click()  # sorted by name
    page.get_by_role("link", name="Name ↑").click()  # reversed
    expect(page.locator("table.contacts tbody tr").first).to_contain_text("Jo3 Smith")
    page.get_by_label("Select Jo3 Smith").check()
    page.get_by_label("Bulk action").select_option("delete")
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_role("heading", name="Delete 1 contact?")).to_be_visible()
    page.get_by_role("button", name="Delete contacts").click()
    expect(page.get_by_text("1 contact deleted")).to_be_visible()
    expect(page.locator(".contact-total")).to_have_text("3 contacts match")
    assert not Contact.objects.filter(email="smith3@example.com").exists()
    assert ContactList.objects.get(company=company).name == "Hot leads"
