"""The data-control flows as a person meets them in a real browser: no page scrolls sideways on a phone or a laptop,
disabled controls say why, the deletion status page follows the real step, the dialog warns, the new export shows."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from keel.accounts.models import Role
from keel.contacts.models import Contact
from keel.datacontrol.company_deletion.tests.factories import start_deletion
from keel.datacontrol.models import DeletionReceipt, ExportArchive
from keel.jobs.models import DataJob
from keel.marketing.models import Campaign, Workflow
from keel.testing import fill_every_tenant_table, grant, make_company, make_user, run_queued_jobs
from keel.tests.browser import log_in

PHONE, LAPTOP = {"width": 375, "height": 740}, {"width": 1280, "height": 800}
LONG_EMAIL = "a.very.long.mailbox.name.that.never.ends.for.testing@subdomain.of.a.long-company-domain.example"


def every_page(company, admin):
    """An admin's pages with data in every table: lists, details, settings, data control, deletion pages."""
    contact = Contact.objects.filter(company=company).order_by("id").first()
    import_job = DataJob.objects.create(
        company=company,
        kind=DataJob.Kind.IMPORT,
        state=DataJob.State.SUCCEEDED,
        requested_by=admin,
        progress_done=330524,
        progress_total=330524,
        params={"filename": "a-very-long-file-name-of-contacts-exported-from-the-old-crm-system-2026.csv"},
        result={"rows": 330524, "created": 330000, "updated": 524, "summary": "Imported 330,524 rows."},
        finished_at=timezone.now(),
    )
    return [
        "/contacts/",
        f"/contacts/{contact.pk}/",
        "/contacts/new/",
        "/contacts/import/",
        f"/contacts/import/{import_job.pk}/",
        "/marketing/campaigns/",
        f"/marketing/campaigns/{Campaign.objects.filter(company=company).first().pk}/",
        "/marketing/workflows/",
        f"/marketing/workflows/{Workflow.objects.filter(company=company).first().pk}/",
        "/integrations/",
        "/settings/users/",
        "/settings/roles/",
        f"/settings/roles/{Role.objects.filter(company=company).first().pk}/",
        "/settings/data/",
        "/settings/data/export/",
        "/settings/data/crm-deletion/",
        "/settings/data/delete/",
        "/settings/plan/",
        "/audit/",
        "/profile/",
    ]


# The elements reaching furthest past the window's right edge, for the failure message.
WIDEST = """[...document.querySelectorAll("body *")]
  .filter(e => e.getBoundingClientRect().right > window.innerWidth + 0.5)
  .sort((a, b) => b.getBoundingClientRect().right - a.getBoundingClientRect().right)
  .slice(0, 5).map(e => e.tagName + "." + e.className + " " + Math.round(e.getBoundingClientRect().right))"""


def assert_fits(page, path, size):
    page.set_viewport_size(size)
    page.goto(path)
    expect(page.locator("main")).to_be_visible()
    width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"{path} is {width[0]} px wide at {size['width']} px: {page.evaluate(WIDEST)}"


@pytest.mark.browser
def test_no_page_scrolls_sideways_at_375_and_1280_px(page, company, admin):
    made = fill_every_tenant_table(company)
    grant(company, "delete_all_crm_records")
    make_user(company, "manager", email=LONG_EMAIL)
    Contact.objects.filter(pk=made.contacts[0].pk).update(email=LONG_EMAIL, company_name="X" * 90)
    ExportArchive.objects.filter(company=company).update(
        sha256="e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        row_counts={"contacts": 330524, "contact_events": 1652620, "workflow_enrollments": 330524},
        scope=["contacts", "campaigns", "workflows", "users", "integrations", "audit_log"],
        size=123456789012,
    )
    paths = every_page(company, admin)
    log_in(page, admin)
    for size in (PHONE, LAPTOP):
        for path in paths:
            assert_fits(page, path, size)

    # The public status page of a deletion (another company's: this one keeps its data for the pages above).
    doomed = make_company("Initech")
    fill_every_tenant_table(doomed)
    started = start_deletion(doomed, doomed.admin)
    for size in (PHONE, LAPTOP):
        assert_fits(page, started.status_path, size)
    run_queued_jobs()
    for size in (PHONE, LAPTOP):
        assert_fits(page, started.status_path, size)


@pytest.mark.browser
def test_the_status_page_shows_the_real_step_the_rows_and_the_time_left_while_the_job_runs(page, company, admin):
    fill_every_tenant_table(company)
    started = start_deletion(company, admin)
    page.goto(started.status_path)
    step = page.locator("#deletion-step")
    expect(step).to_have_text("Waiting to start")

    # What the job writes to the receipt as it erases a table: the page follows without a reload.
    DeletionReceipt.objects.filter(pk=started.receipt.pk).update(
        step="Deleting contact events",
        progress_done=1200,
        progress_total=330524,
        requested_at=timezone.now() - timedelta(seconds=30),
    )
    expect(step).to_have_text("Deleting contact events")
    expect(page.locator("#deletion-count")).to_have_text("1,200 of 330,524 rows and files deleted")
    time_left = re.compile(r"^About (\d+ hours?( \d+ minutes?)?|\d+ minutes?) left$")
    expect(page.locator("#deletion-eta")).to_have_text(time_left)
    expect(page.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "0")

    run_queued_jobs()
    confirmation = page.get_by_role("heading", name="System confirmation: your company's data has been deleted")
    expect(confirmation).to_be_visible()


@pytest.mark.browser
def test_disabled_controls_carry_their_reason(page, company, admin):
    grant(company, "delete_all_crm_records")
    Contact.objects.create(company=company, email="ada@example.com", first_name="Ada")
    importing = DataJob.objects.create(
        company=company,
        kind=DataJob.Kind.IMPORT,
        state=DataJob.State.RUNNING,
        requested_by=admin,
        progress_done=1500,
        progress_total=40000,
        params={"filename": "people.csv"},
    )
    log_in(page, admin)

    # During an import: Delete all CRM Records is disabled, says why, who started what and when, and links to it.
    page.goto("/contacts/")
    button = page.locator("#crm-delete-all")
    expect(button).to_have_attribute("aria-disabled", "true")
    reason = page.locator("#crm-delete-all-reason")
    expect(reason).to_contain_text("Not possible while an import of contacts is running.")
    expect(reason).to_contain_text(f"started by {admin.email}")
    expect(reason).to_contain_text("3 % (1,500 of 40,000)")
    expect(reason).not_to_contain_text("job")
    expect(reason.get_by_role("link", name="View the import")).to_have_attribute(
        "href", f"/contacts/import/{importing.pk}/"
    )
    expect(page.locator("#crm-deletion-dialog")).to_have_count(0)
    title = page.get_by_role("heading", name="CRM Contacts")
    assert title.bounding_box()["y"] < button.bounding_box()["y"]  # the button sits below the page title

    # During a CRM deletion: New contact and Import are disabled, each with the reason.
    DataJob.objects.filter(pk=importing.pk).update(state=DataJob.State.SUCCEEDED, finished_at=timezone.now())
    DataJob.objects.create(company=company, kind=DataJob.Kind.CRM_DELETION, requested_by=admin)
    page.reload()
    new_contact = page.locator(".new-contact-button")
    expect(new_contact).to_have_attribute("aria-disabled", "true")
    expect(page.locator("#new-contact-reason")).to_have_text(
        "New contacts cannot be created while all CRM records are being deleted."
    )
    expect(page.get_by_role("link", name="New contact")).to_have_count(0)
    expect(page.locator(".import-disabled-reason")).to_be_visible()

    # Free plan: the Export card says why, and links the Plan page, which shows the plans and exports per day.
    free = make_company("Freebie", plan="free")
    page.context.clear_cookies()
    log_in(page, free.admin)
    page.get_by_text("Admin Settings").click()
    page.get_by_role("link", name="Data Management").click()
    card = page.locator("#export-card")
    expect(card.get_by_role("link", name="Export Data")).to_have_count(0)
    expect(card.locator("[aria-disabled=true]")).to_have_text("Export Data")
    expect(card).to_contain_text("Export is not available for your plan (Free).")
    card.get_by_role("link", name="Check plan details").click()
    expect(page).to_have_url(re.compile(r"/settings/plan/$"))
    expect(page.locator("#current-plan")).to_contain_text("Free")
    expect(page.locator("#plan-free .plan-export")).to_contain_text("not included")
    expect(page.locator("#plan-standard .plan-export")).to_contain_text(re.compile(r"\d+ exports? per day"))

    # A role without "Export company data": the card stays and says so.
    role = free.admin.role
    role.permissions = [code for code in role.permissions if code != "export_company_data"]
    role.save()
    page.goto("/settings/data/")
    expect(page.locator("#export-unavailable")).to_contain_text("does not include the permission “Export company data”")


@pytest.mark.browser
def test_the_dialog_warns_above_the_question_and_the_finished_banner_speaks_once(page, company, admin):
    grant(company, "delete_all_crm_records")
    Contact.objects.create(company=company, email="ada@example.com", first_name="Ada")
    log_in(page, admin)
    page.goto("/contacts/")
    page.get_by_role("link", name="Delete all CRM Records").click()
    dialog = page.locator("#crm-deletion-dialog")
    warning = dialog.get_by_text(
        "This action cannot be undone, and all CRM contacts, data, and history will be permanently deleted."
    )
    question = dialog.locator(".crm-deletion-question")
    expect(warning).to_be_visible()
    assert warning.bounding_box()["y"] < question.bounding_box()["y"]
    dialog.get_by_role("button", name="Yes").click()
    expect(page.locator("#crm-deletion-running")).to_be_visible()
    run_queued_jobs()
    page.reload()
    finished = page.locator("#crm-deletion-finished")
    expect(finished).to_contain_text("All CRM records have been deleted.")
    assert finished.inner_text().count("Deleted 1 contact") == 1


@pytest.mark.browser
def test_after_start_export_the_new_row_and_its_progress_are_in_view(page, company, admin):
    for n in range(8):
        job = DataJob.objects.create(
            company=company, kind=DataJob.Kind.EXPORT, state=DataJob.State.SUCCEEDED, requested_by=admin
        )
        ExportArchive.objects.create(
            company=company,
            job=job,
            requested_by=admin,
            status=ExportArchive.Status.READY,
            scope=["contacts"],
            sha256=f"{n:064d}",
            size=1000,
            expires_at=timezone.now() + timedelta(days=7),
            created_at=timezone.now() - timedelta(days=n + 2),
        )
    page.set_viewport_size(PHONE)
    log_in(page, admin)
    page.goto("/settings/data/export/")
    page.get_by_role("button", name="Start export").click()
    expect(page.get_by_text("The export has started.")).to_be_visible()
    newest = ExportArchive.objects.filter(company=company).order_by("-id").first()
    row = page.locator(f"#export-{newest.pk}")
    expect(row.locator(".job-progress")).to_be_in_viewport()
