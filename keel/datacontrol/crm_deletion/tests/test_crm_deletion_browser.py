"""In a real browser with a real worker: enable the permission, delete all CRM records from CRM Contacts, watch
the status bar reach 100 %, see the empty CRM, and import a CSV file again."""

import re

import pytest
from playwright.sync_api import expect

from keel.contacts.models import Contact
from keel.datacontrol import eraser, graph
from keel.datacontrol.crm_deletion.actions import CONFIRMATION_TEXT
from keel.datacontrol.tests.factories import add_bulk_contacts, make_crm_data
from keel.jobs.models import DataJob
from keel.tests.browser import log_in

CSV = b"Email,First Name,Last Name\nada@example.com,Ada,Lovelace\ngrace@example.com,Grace,Hopper\n"


@pytest.fixture
def small_batches(monkeypatch):
    """The worker deletes in small batches, so that the deletion lasts long enough to be watched."""
    monkeypatch.setenv("KEEL_DELETION_BATCH_ROWS", "25")


@pytest.mark.browser
def test_enable_the_permission_delete_everything_watch_it_finish_and_import_again(
    small_batches, page, worker, company, other_company
):
    for target in (company, other_company):
        make_crm_data(target)
        add_bulk_contacts(target, contacts=3000, events_per_contact=5)
    log_in(page, company.admin)

    page.goto("/contacts/")
    expect(page.get_by_role("link", name="Delete all CRM Records")).to_have_count(0)  # off by default

    # Admin Settings → Roles and Permissions → edit the Company Administrator role → tick → Save.
    page.get_by_text("Admin Settings").click()
    page.get_by_role("link", name="Roles and Permissions").click()
    page.get_by_role("row", name=re.compile("Company Administrator")).get_by_role("link", name="Edit").click()
    page.get_by_label("Allow deletion of all CRM records").check()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Role saved.")).to_be_visible()

    page.get_by_role("link", name="CRM Contacts").click()
    page.get_by_role("link", name="Delete all CRM Records").click()
    dialog = page.locator("#crm-deletion-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text(CONFIRMATION_TEXT)
    expect(dialog.locator(".count-contacts")).to_have_text("3,006")
    expect(dialog.locator(".count-history-events")).to_have_text("15,018")
    expect(dialog.get_by_role("link", name=re.compile("Export"))).to_have_attribute("href", "/settings/data/export/")

    dialog.get_by_role("button", name="No").click()  # No changes nothing
    expect(dialog).to_be_hidden()
    assert not DataJob.objects.filter(kind=DataJob.Kind.CRM_DELETION).exists()

    page.get_by_role("link", name="Delete all CRM Records").click()
    dialog.get_by_role("button", name="Yes").click()

    running = page.locator("#crm-deletion-running")
    expect(running).to_contain_text("All CRM records are being deleted")
    expect(running.locator(".progress-bar")).to_be_visible()
    expect(page.locator(".import-disabled-reason")).to_have_text(
        "Imports are not possible while all CRM records are being deleted."
    )

    # The status bar updates itself; when the job ends the page reloads and says so once, at 100 %.
    finished = page.locator("#crm-deletion-finished")
    expect(finished).to_contain_text("All CRM records have been deleted.", timeout=90000)
    expect(finished.locator(".progress-percent")).to_have_text("100 %")
    expect(finished).to_contain_text("Deleted 3,006 contacts, 15,018 history events and 33 other contact records.")
    expect(page.get_by_text("No contacts here.")).to_be_visible()
    assert eraser.remaining_rows(company.pk, graph.crm_models()) == {}
    assert Contact.objects.filter(company=other_company).count() == 3006

    # Imports work normally again.
    page.get_by_role("link", name="Import", exact=True).click()
    page.set_input_files("input[name=file]", files=[{"name": "people.csv", "mimeType": "text/csv", "buffer": CSV}])
    page.get_by_role("button", name="Upload and check the columns").click()
    page.get_by_role("button", name="Start import").click()
    expect(page.locator(".progress-percent")).to_have_text("100 %", timeout=60000)
    page.goto("/contacts/")
    expect(page.get_by_role("cell", name="ada@example.com")).to_be_visible()
    expect(page.get_by_role("cell", name="grace@example.com")).to_be_visible()
    assert Contact.objects.filter(company=company).count() == 2
