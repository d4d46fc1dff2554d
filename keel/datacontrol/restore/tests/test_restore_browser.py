"""In a real browser with a real worker: on the Data Management page of an empty company, upload an export archive,
see what it holds, start the restore, watch the bar reach 100 %, and open a restored contact with its history."""

import pytest
from playwright.sync_api import expect

from keel.contacts.models import Contact
from keel.datacontrol.restore.tests.archives import export_bytes
from keel.datacontrol.tests.factories import add_bulk_contacts
from keel.testing import fill_every_tenant_table, make_company
from keel.tests.browser import log_in


@pytest.mark.browser
def test_upload_an_archive_watch_the_restore_finish_and_open_a_restored_contact(
    page, worker, company, tmp_path, monkeypatch
):
    monkeypatch.setenv("KEEL_BATCH_SIZE", "50")  # long enough to watch the bar move
    fill_every_tenant_table(company)
    add_bulk_contacts(company, contacts=1500, events_per_contact=2)
    archive = tmp_path / "keel-export-acme.zip"
    archive.write_bytes(export_bytes(company))
    target = make_company("Phoenix")
    log_in(page, target.admin)

    page.goto("/settings/data/")
    page.get_by_role("link", name="Restore from an export").click()
    page.set_input_files("input[name=file]", str(archive))
    page.get_by_role("button", name="Check archive").click()
    preview = page.locator("#restore-preview")
    expect(preview).to_contain_text("The export of Acme")
    expect(preview.locator("#restore-preview-rows")).to_contain_text("Contact history events")
    page.get_by_role("button", name="Start restore").click()

    expect(page.locator("#restore-running [role=progressbar]")).to_be_visible()
    outcome = page.locator("#restore-outcome")
    expect(outcome).to_contain_text("Restored", timeout=120_000)
    expect(outcome).to_have_attribute("data-restore-state", "succeeded")
    expect(outcome.locator("[role=progressbar]")).to_have_attribute("aria-valuenow", "100")

    restored = Contact.objects.filter(company=target, email="person0@example.com").get()
    page.goto(f"/contacts/{restored.pk}/")
    expect(page.get_by_text("person0@example.com").first).to_be_visible()
    expect(page.get_by_text('Say "hello", then leave #1').first).to_be_visible()  # its history came back
