"""The whole flow in a real browser: Data Management → Delete Company Data → status page → system confirmation."""

import re

import pytest
from playwright.sync_api import expect

from keel.accounts.models import Company
from keel.datacontrol.company_deletion.tests.factories import (
    rows_of_company,
    start_deletion,
    stored_files,
)
from keel.datacontrol.models import DeletionReceipt
from keel.marketing.models import Workflow
from keel.testing import PASSWORD, fill_every_tenant_table, run_queued_jobs


@pytest.mark.browser
def test_delete_company_from_data_management_to_the_confirmation(page, worker, company, admin):
    fill_every_tenant_table(company)
    workflow = Workflow.objects.create(company=company, name="Nurture", status=Workflow.Status.ACTIVE)

    page.goto("/login/")
    page.fill('input[name="username"]', admin.email)
    page.fill('input[name="password"]', PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/contacts/$"))

    page.get_by_text("Admin Settings").click()
    page.get_by_role("link", name="Data Management").click()
    page.get_by_role("link", name="Delete Company Data").click()
    expect(page).to_have_url(re.compile(r"/settings/data/delete/$"))
    expect(page.get_by_text("This action is irreversible.")).to_be_visible()
    expect(page.get_by_role("heading", name="Always export data before deletion")).to_be_visible()

    # An active workflow blocks: the form is disabled until it is stopped.
    expect(page.get_by_text("The workflow “Nurture” is active.")).to_be_visible()
    expect(page.get_by_label("Company name")).to_be_disabled()
    Workflow.objects.filter(pk=workflow.pk).update(status=Workflow.Status.INACTIVE)
    page.reload()

    page.get_by_label("Company name").fill("Acme")
    page.get_by_label("Your password").fill("not my password")
    page.get_by_role("button", name="Permanently delete company data").click()
    expect(page.get_by_text("The password is not correct.").first).to_be_visible()
    assert Company.objects.get(pk=company.pk).is_active

    page.get_by_label("Company name").fill("Acme")
    page.get_by_label("Your password").fill(PASSWORD)
    page.get_by_role("button", name="Permanently delete company data").click()

    expect(page).to_have_url(re.compile(r"/deletion-status/[A-Za-z0-9_-]{40,}/$"))
    expect(page.get_by_role("progressbar")).to_be_attached()
    confirmation = page.get_by_role("heading", name="System confirmation: your company's data has been deleted")
    expect(confirmation).to_be_visible(timeout=60000)
    receipt = DeletionReceipt.objects.get()
    expect(page.locator("#receipt-id")).to_have_text(str(receipt.receipt_id))
    expect(page.locator("#deletion-percent")).to_have_text("100")
    expect(page.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "100")

    assert receipt.state == "succeeded"
    assert rows_of_company(company.pk) == {} and stored_files(company.pk) == {}
    page.goto("/settings/data/")
    expect(page).to_have_url(re.compile(r"/login/"))


@pytest.mark.browser
def test_status_page_follows_the_deletion_by_itself(page, company, admin):
    """Opened while the job waits, the page polls the public status and turns into the confirmation."""
    fill_every_tenant_table(company)
    started = start_deletion(company, admin)
    page.goto(started.status_path)
    expect(page.get_by_text("Your company's data is being deleted.")).to_be_visible()
    expect(page.locator("#deletion-percent")).to_have_text("0")
    run_queued_jobs()  # the job runs now, while the page is open
    heading = page.get_by_role("heading", name="System confirmation: your company's data has been deleted")
    expect(heading).to_be_visible(timeout=15000)
    expect(page.locator("#receipt-id")).to_have_text(str(started.receipt.receipt_id))
