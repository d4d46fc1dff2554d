"""The words of the data-control pages: refusals that name the operation instead of a job id, the Plan page, the
Export card's reasons, the deletion status with its step and time left, and the audit log as sentences."""

from datetime import timedelta

from django.test import Client
from django.utils import timezone

from keel.audit.actions import record
from keel.datacontrol.company_deletion.tests.factories import start_deletion, token_of
from keel.datacontrol.models import DeletionReceipt
from keel.jobs.models import DataJob
from keel.testing import fill_every_tenant_table, grant, make_company


def running_import(company, user):
    return DataJob.objects.create(
        company=company,
        kind=DataJob.Kind.IMPORT,
        state=DataJob.State.RUNNING,
        requested_by=user,
        progress_done=12000,
        progress_total=48000,
    )


def test_a_refused_crm_deletion_names_the_import_its_starter_progress_and_link_not_its_id(admin_client, company, admin):
    grant(company, "delete_all_crm_records")
    job = running_import(company, admin)
    response = admin_client.post("/settings/data/crm-deletion/", {"confirm": "yes"})
    assert response.status_code == 409
    html = response.content.decode()
    assert "Another operation is in progress: an import of contacts. Wait for it to finish or cancel it." in html
    assert f"(job {job.pk})" not in html
    started = f"started by {admin.email} on {job.created_at:%Y-%m-%d %H:%M} UTC"
    assert f"{started}, is running: 25 % (12,000 of 48,000)" in html
    assert f'<a class="job-link" href="/contacts/import/{job.pk}/">View the import</a>' in html


def test_company_deletion_blockers_describe_the_pending_operation(admin_client, company, admin):
    job = running_import(company, admin)
    html = admin_client.get("/settings/data/delete/").content.decode()
    assert f"(job {job.pk})" not in html
    assert f"An import of contacts, started by {admin.email}" in html
    assert f'href="/contacts/import/{job.pk}/">View the import</a>' in html


def test_the_plan_page_shows_the_companys_plan_and_what_each_includes(admin_client, company, settings):
    settings.KEEL_EXPORTS_PER_DAY = 3
    html = admin_client.get("/settings/plan/").content.decode()
    assert "is on the <strong>Standard</strong> plan" in html
    assert "not included" in html  # the free plan
    assert "3 exports per day" in html  # a plan's allowance, capped by the operator's setting
    assert 'href="/settings/plan/"' in admin_client.get("/contacts/").content.decode()  # Admin Settings → Plan


def test_the_export_card_explains_a_free_plan_and_a_role_without_the_permission(client, db):
    free = make_company("Freebie", plan="free")
    client.force_login(free.admin)
    html = client.get("/settings/data/").content.decode()
    assert "Export is not available for your plan" in html and 'href="/settings/plan/"' in html
    assert 'href="/settings/data/export/"' not in html
    assert 'href="/settings/plan/"' in client.get("/settings/data/export/").content.decode()

    role = free.admin.role
    role.permissions = [code for code in role.permissions if code != "export_company_data"]
    role.save()
    html = client.get("/settings/data/").content.decode()
    assert 'id="export-card"' in html
    assert "does not include the permission “Export company data”" in html


def test_the_public_status_carries_the_step_and_an_estimate_of_the_time_left(company, admin):
    fill_every_tenant_table(company)
    started = start_deletion(company, admin)
    token = token_of(started.status_path)
    body = Client().get(f"/api/v1/deletions/{token}").json()
    assert body["step"] == "Waiting to start" and body["seconds_left"] is None
    DeletionReceipt.objects.filter(pk=started.receipt.pk).update(
        step="Deleting contact events",
        progress_done=1000,
        progress_total=4000,
        requested_at=timezone.now() - timedelta(seconds=60),
    )
    body = Client().get(f"/api/v1/deletions/{token}").json()
    assert body["step"] == "Deleting contact events"
    assert 170 <= body["seconds_left"] <= 190  # 3,000 left at 1,000 a minute
    html = Client().get(started.status_path).content.decode()
    assert "1,000 of 4,000 rows and files deleted" in html and "About 3 minutes left" in html
    assert '<span id="deletion-step">Deleting contact events</span>' in html


def test_the_audit_log_reads_as_sentences_with_human_labels(admin_client, company, admin):
    record(company, admin, "export.requested", None, scope=["contacts", "audit_log"], job_id=12345)
    record(company, admin, "user.role_changed", None, before="Member", after="Manager", tokens_revoked=1200)
    html = admin_client.get("/audit/").content.decode()
    assert "Started an export of company data" in html
    assert "Contacts, Audit log" in html and "['contacts', 'audit_log']" not in html
    assert "Changed a user&#x27;s role" in html and "12,345" in html and "1,200" in html


def test_progress_counts_have_thousands_separators(admin_client, company, admin):
    job = running_import(company, admin)
    html = admin_client.get(f"/jobs/{job.pk}/progress/").content.decode()
    assert "12,000 of 48,000" in html
