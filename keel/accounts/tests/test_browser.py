import re

import pytest
from playwright.sync_api import expect

from keel.accounts.models import Role
from keel.contacts.models import Contact
from keel.tests.browser import log_in


@pytest.mark.browser
def test_log_in_open_a_contact_and_enable_crm_deletion_for_administrators(page, company, admin):
    contact = Contact.objects.create(company=company, first_name="Ada", last_name="Lovelace", email="ada@example.test")
    log_in(page, admin.email)

    page.goto(f"/contacts/{contact.pk}/")
    expect(page.get_by_role("heading", name="Ada Lovelace")).to_be_visible()

    # Admin Settings → Roles and Permissions → edit the Company Administrator role.
    page.get_by_text("Admin Settings").click()
    page.get_by_role("link", name="Roles and Permissions").click()
    page.get_by_role("row", name=re.compile("Company Administrator")).get_by_role("link", name="Edit").click()
    checkbox = page.get_by_label("Allow deletion of all CRM records")
    expect(checkbox).not_to_be_checked()
    checkbox.check()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Role saved.")).to_be_visible()

    page.reload()
    expect(page.get_by_label("Allow deletion of all CRM records")).to_be_checked()
    assert "delete_all_crm_records" in Role.objects.get(company=company, kind="admin").permissions


@pytest.mark.browser
def test_wrong_password_in_the_browser_and_logout(page, admin):
    page.goto("/login/")
    page.fill('input[name="username"]', admin.email)
    page.fill('input[name="password"]', "not the password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_text("Incorrect e-mail or password.")).to_be_visible()
    log_in(page, admin.email)
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/login/$"))
    page.goto("/settings/roles/")
    expect(page).to_have_url(re.compile(r"/login/\?next="))
