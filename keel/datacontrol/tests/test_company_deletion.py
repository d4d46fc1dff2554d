"""Delete company data: permissions, blockers, confirmation, loss of access, the job, the receipt, the status link."""

import hashlib
import json
import re

import pytest
from django.core import mail
from django.test import Client

from keel.accounts.actions import do_create_company
from keel.accounts.models import ApiToken, Company, Notice, Role, User
from keel.accounts.permissions import ADMIN
from keel.contacts.models import Contact
from keel.datacontrol import company_deletion, eraser, graph
from keel.datacontrol.models import DeletionReceipt
from keel.datacontrol.tests.test_company_deletion_helpers import (
    PERSONAL_NAME,
    RevokeHookServer,
    dump_company,
    make_company_data,
    refusing_mail_server,
    rows_of_company,
    stored_files,
)
from keel.errors import Conflict
from keel.integrations.models import IntegrationConnection
from keel.jobs.models import DataJob
from keel.jobs.progress import JobCancelled, Progress
from keel.jobs.runner import OperationInProgress, create_job, run_job
from keel.marketing.models import Campaign, Workflow
from keel.testing import PASSWORD, ApiClient, make_user, run_queued_jobs

FILLED_TABLES = {
    "accounts.Role", "accounts.User", "accounts.ApiToken", "accounts.Notice", "audit.AuditEvent",
    "contacts.Contact", "contacts.ContactEvent", "contacts.Note", "contacts.Tag", "contacts.ContactTag",
    "contacts.ContactList", "contacts.ListMembership", "contacts.Attachment", "marketing.Campaign",
    "marketing.CampaignRecipient", "marketing.Workflow", "marketing.WorkflowEnrollment",
    "integrations.IntegrationConnection", "jobs.DataJob", "datacontrol.ExportArchive",
}  # fmt: skip
DELETE = "company/delete"
PREFLIGHT = "company/deletion/preflight"
PAGE = "/settings/data/delete/"


def confirm(company, password=PASSWORD, **extra):
    return {"company_name": company.name, "password": password, **extra}


def token_of(status_url):
    return re.search(r"/deletion-status/([^/]+)/$", status_url).group(1)


@pytest.fixture
def started(company, api, django_capture_on_commit_callbacks):
    """A deletion requested through the API by the Company Administrator; the job has not run yet."""
    make_company_data(company)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(DELETE, confirm(company))
    assert response.status_code == 202, response.content
    return response.json()


# --- who may see and do it ------------------------------------------------------------------------------------------


def test_page_shows_irreversibility_counts_latest_export_and_the_form(company, admin_client):
    make_company_data(company)
    response = admin_client.get(PAGE)
    assert response.status_code == 200
    html = response.content.decode()
    assert "This action is irreversible." in html
    assert "Always export data before deletion" in html
    assert 'href="/settings/data/export/"' in html
    assert "Your latest export was created on" in html
    assert re.search(r"<td>Contacts</td><td>4</td>", html)
    assert re.search(r"<td>Contact events</td><td>12</td>", html)
    assert re.search(r"<td>Users</td><td>2</td>", html)
    assert 'name="company_name"' in html and 'name="password"' in html
    assert 'name="code"' not in html  # the e-mailed code is off by default


def test_page_without_any_export_says_so(company, admin_client):
    assert "Your company has no export yet." in admin_client.get(PAGE).content.decode()


def test_data_management_shows_the_delete_card_only_with_the_permission(company, admin_client):
    assert "Delete Company Data" in admin_client.get("/settings/data/").content.decode()
    role = Role.objects.get(company=company, kind=ADMIN)
    role.permissions = [p for p in role.permissions if p != "delete_company_data"]
    role.save()
    assert 'id="delete-company-card"' not in admin_client.get("/settings/data/").content.decode()


@pytest.mark.parametrize("role_kind", ["member", "manager"])
def test_lower_roles_get_403_on_data_management(company, client, role_kind):
    client.force_login(make_user(company, role_kind))
    response = client.get("/settings/data/")
    assert response.status_code == 403
    assert "Delete Company Data" not in response.content.decode()


@pytest.mark.parametrize("role_kind", ["member", "manager"])
def test_lower_roles_get_403_on_page_and_api(company, client, role_kind):
    user = make_user(company, role_kind)
    client.force_login(user)
    assert client.get(PAGE).status_code == 403
    assert client.post(PAGE, confirm(company)).status_code == 403
    lower_api = ApiClient(user)
    for response in (lower_api.get(PREFLIGHT), lower_api.post(DELETE, confirm(company))):
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "permission_denied"
    assert Company.objects.get(pk=company.pk).is_active


def test_even_a_manager_granted_the_permission_is_refused(company, client):
    """The feature is for Company Administrators alone, whatever a custom role holds."""
    manager = make_user(company, "manager")
    Role.objects.filter(pk=manager.role_id).update(permissions=["delete_company_data"])
    response = ApiClient(manager).post(DELETE, confirm(company))
    assert response.status_code == 403 and response.json()["error"]["code"] == "permission_denied"


def test_administrator_without_the_permission_gets_403(company, admin, admin_client, api):
    role = Role.objects.get(company=company, kind=ADMIN)
    role.permissions = [p for p in role.permissions if p != "delete_company_data"]
    role.save()
    assert admin_client.get("/settings/data/").status_code == 200  # Data Management itself stays theirs
    assert admin_client.get(PAGE).status_code == 403
    assert admin_client.post(PAGE, confirm(company)).status_code == 403
    assert admin_client.post(f"{PAGE}code/").status_code == 403
    assert api.get(PREFLIGHT).status_code == 403
    response = api.post(DELETE, confirm(company))
    assert response.status_code == 403 and response.json()["error"]["code"] == "permission_denied"
    assert Company.objects.get(pk=company.pk).is_active


def test_preflight_counts_only_the_callers_company(company, other_company, api, other_api):
    make_company_data(company, contacts=4)
    make_company_data(other_company, contacts=2)
    mine, theirs = api.get(PREFLIGHT).json(), other_api.get(PREFLIGHT).json()
    assert mine == {"blockers": [], "counts": mine["counts"]}
    assert mine["counts"]["contacts"] == 4 and theirs["counts"]["contacts"] == 2
    assert set(mine["counts"]) == {graph.entity_name(m) for m in graph.tenant_models()}


def test_another_companys_administrator_cannot_delete_this_company(company, other_company, other_api):
    """Whatever name is typed, a request only ever concerns the caller's own company."""
    response = other_api.post(DELETE, {"company_name": company.name, "password": PASSWORD})
    assert response.status_code == 422 and response.json()["error"]["code"] == "confirmation_mismatch"
    assert Company.objects.get(pk=company.pk).is_active and Company.objects.get(pk=other_company.pk).is_active


def test_unauthenticated_requests_get_401(company):
    client = Client()
    assert client.get(f"/api/v1/{PREFLIGHT}").status_code == 401
    assert client.post(f"/api/v1/{DELETE}", "{}", content_type="application/json").status_code == 401
    assert client.get(PAGE).status_code == 302


# --- blockers ---------------------------------------------------------------------------------------------------------


def _queued_import(company):
    return DataJob.objects.create(company=company, kind=DataJob.Kind.IMPORT, state=DataJob.State.QUEUED)


def _running_export(company):
    return DataJob.objects.create(company=company, kind=DataJob.Kind.EXPORT, state=DataJob.State.RUNNING)


def _queued_crm_deletion(company):
    return DataJob.objects.create(company=company, kind=DataJob.Kind.CRM_DELETION, state=DataJob.State.QUEUED)


def _scheduled_campaign(company):
    return Campaign.objects.create(company=company, name="Launch", status=Campaign.Status.SCHEDULED)


def _sending_campaign(company):
    return Campaign.objects.create(company=company, name="Blast", status=Campaign.Status.SENDING)


def _active_workflow(company):
    return Workflow.objects.create(company=company, name="Nurture", status=Workflow.Status.ACTIVE)


BLOCKERS = [
    (_queued_import, "pending_operation", "/contacts/import/{pk}/"),
    (_running_export, "pending_operation", "/settings/data/export/"),
    (_queued_crm_deletion, "pending_operation", "/contacts/"),
    (_scheduled_campaign, "active_campaign", "/marketing/campaigns/{pk}/"),
    (_sending_campaign, "active_campaign", "/marketing/campaigns/{pk}/"),
    (_active_workflow, "active_workflow", "/marketing/workflows/{pk}/"),
]


@pytest.mark.parametrize("make_blocker, code, link", BLOCKERS)
def test_each_blocker_blocks(company, api, admin_client, make_blocker, code, link):
    blocker = make_blocker(company)
    preflight = api.get(PREFLIGHT).json()
    assert [b["code"] for b in preflight["blockers"]] == [code]
    assert set(preflight["blockers"][0]) == {"code", "message"}

    response = api.post(DELETE, confirm(company))
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "deletion_blocked"
    assert error["blockers"] == preflight["blockers"]
    if code == "pending_operation":
        assert error["blockers"][0]["message"].startswith("Complete or stop active processes")

    html = admin_client.get(PAGE).content.decode()
    assert "Complete or stop active processes" in html
    assert f'href="{link.format(pk=blocker.pk)}"' in html
    assert "<fieldset disabled" in html
    assert admin_client.post(PAGE, confirm(company)).status_code == 409

    assert Company.objects.get(pk=company.pk).is_active
    assert not DataJob.objects.filter(kind=DataJob.Kind.COMPANY_DELETION).exists()
    assert not DeletionReceipt.objects.exists()


def test_finished_operations_and_stopped_campaigns_do_not_block(company, api):
    DataJob.objects.create(company=company, kind=DataJob.Kind.IMPORT, state=DataJob.State.SUCCEEDED)
    DataJob.objects.create(company=company, kind=DataJob.Kind.EXPORT, state=DataJob.State.FAILED)
    Campaign.objects.create(company=company, name="Old", status=Campaign.Status.SENT)
    Campaign.objects.create(company=company, name="Halted", status=Campaign.Status.STOPPED)
    Workflow.objects.create(company=company, name="Off", status=Workflow.Status.INACTIVE)
    assert api.get(PREFLIGHT).json()["blockers"] == []


def test_another_companys_blockers_do_not_block(company, other_company, api):
    _sending_campaign(other_company)
    _queued_import(other_company)
    assert api.get(PREFLIGHT).json()["blockers"] == []
    assert api.post(DELETE, confirm(company)).status_code == 202


# --- confirmation and re-authentication ------------------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["Acme Inc", "acme", "ACME", ""])
def test_wrong_company_name_is_refused(company, api, typed):
    response = api.post(DELETE, {"company_name": typed, "password": PASSWORD})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "confirmation_mismatch" and error["field"] == "company_name"
    assert "Acme" in error["message"]
    assert Company.objects.get(pk=company.pk).is_active


def test_missing_fields_are_named(company, api):
    response = api.post(DELETE, {"company_name": "Acme"})
    assert response.status_code == 422
    assert response.json()["error"]["fields"][0]["field"] == "password"


def test_wrong_password_is_refused_and_rate_limited(company, api, settings):
    settings.KEEL_REAUTH_ATTEMPTS = 3
    for _ in range(3):
        response = api.post(DELETE, confirm(company, password="not my password"))
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "reauthentication_failed"
    response = api.post(DELETE, confirm(company))  # even the right password now waits
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "rate_limited"
    assert response.json()["error"]["retry_after"] > 0
    assert Company.objects.get(pk=company.pk).is_active


def test_rate_limit_is_per_user(company, api, settings, django_capture_on_commit_callbacks):
    settings.KEEL_REAUTH_ATTEMPTS = 1
    second_admin = make_user(company, "admin")
    api.post(DELETE, confirm(company, password="wrong"))
    assert api.post(DELETE, confirm(company)).status_code == 429
    assert ApiClient(second_admin).post(DELETE, confirm(company)).status_code == 202


def test_page_shows_what_was_wrong_and_keeps_the_typed_name(company, admin_client):
    response = admin_client.post(PAGE, {"company_name": "Acme", "password": "nope"})
    assert response.status_code == 403
    html = response.content.decode()
    assert "The password is not correct." in html
    assert 'value="Acme"' in html
    response = admin_client.post(PAGE, {"company_name": "Acne", "password": PASSWORD})
    assert response.status_code == 422
    assert "does not match the company" in response.content.decode()
    assert Company.objects.get(pk=company.pk).is_active


def test_surrounding_spaces_of_the_typed_name_are_ignored(company, api):
    assert api.post(DELETE, {"company_name": "  Acme ", "password": PASSWORD}).status_code == 202


def test_emailed_code_when_configured(company, admin, api, settings):
    settings.KEEL_DELETION_EMAIL_CODE = True
    response = api.post(DELETE, confirm(company))
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "verification_code_required"
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [admin.email]
    code = re.search(r"\b(\d{6})\b", mail.outbox[0].body).group(1)

    wrong = f"{(int(code) + 1) % 10**6:06d}"
    response = api.post(DELETE, confirm(company, code=wrong))
    assert response.status_code == 403 and response.json()["error"]["code"] == "verification_failed"
    assert Company.objects.get(pk=company.pk).is_active

    response = api.post(DELETE, confirm(company, code=code))
    assert response.status_code == 202
    assert Company.objects.get(pk=company.pk).status == "deleting"


def test_emailed_code_is_single_use_and_checked_after_the_password(company, admin, settings):
    settings.KEEL_DELETION_EMAIL_CODE = True
    company_deletion.do_send_deletion_code(admin)
    code = re.search(r"\b(\d{6})\b", mail.outbox[-1].body).group(1)
    with pytest.raises(Exception) as refused:
        company_deletion.do_request_company_deletion(admin, "Acme", "wrong password", code)
    assert refused.value.code == "reauthentication_failed"
    company_deletion.do_request_company_deletion(admin, "Acme", PASSWORD, code)
    assert Company.objects.get(pk=company.pk).status == "deleting"


def test_page_with_code_offers_to_send_it(company, admin, admin_client, settings):
    settings.KEEL_DELETION_EMAIL_CODE = True
    html = admin_client.get(PAGE).content.decode()
    assert 'name="code"' in html and "E-mail me a code" in html
    response = admin_client.post(f"{PAGE}code/", follow=True)
    assert "We e-mailed a one-time code" in response.content.decode()
    code = re.search(r"\b(\d{6})\b", mail.outbox[-1].body).group(1)
    response = admin_client.post(PAGE, {"company_name": "Acme", "password": PASSWORD, "code": code})
    assert response.status_code == 302 and response["Location"].startswith("/deletion-status/")


def test_code_endpoint_refuses_lower_roles(company, client, settings):
    settings.KEEL_DELETION_EMAIL_CODE = True
    client.force_login(make_user(company, "member"))
    assert client.post(f"{PAGE}code/").status_code == 403
    assert mail.outbox == []


# --- what happens on confirmation -------------------------------------------------------------------------------------


def test_confirmation_answers_202_with_the_job_and_the_status_link(company, started):
    assert set(started) == {"job", "status_url"}
    job = started["job"]
    assert job["kind"] == "company_deletion" and job["state"] == "queued"
    assert set(job) == {
        "id", "kind", "state", "progress", "step", "created_at", "started_at", "finished_at", "error", "result"
    }  # fmt: skip
    assert re.fullmatch(r"http://testserver/deletion-status/[A-Za-z0-9_-]{40,}/", started["status_url"])


def test_confirmation_freezes_the_company_in_one_transaction(company, admin, started):
    company.refresh_from_db()
    assert company.status == Company.Status.DELETING
    job = DataJob.objects.get(pk=started["job"]["id"])
    assert job.company_id == company.pk and job.requested_by_id == admin.pk
    receipt = DeletionReceipt.objects.get()
    assert job.params["receipt_id"] == str(receipt.receipt_id)
    assert receipt.company_id_deleted == company.pk and receipt.state == "running"
    token = token_of(started["status_url"])
    assert receipt.status_token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in json.dumps(list(DeletionReceipt.objects.values()), default=str)
    assert token not in json.dumps(list(DataJob.objects.values()), default=str)


def test_a_second_deletion_cannot_start(company, admin, started):
    with pytest.raises(Conflict) as refused:
        company_deletion.start_company_deletion(Company.objects.get(pk=company.pk), requested_by=admin)
    assert refused.value.code == "deletion_in_progress"
    with pytest.raises(OperationInProgress):  # and the database constraint refuses a second job by itself
        create_job(company, DataJob.Kind.COMPANY_DELETION)
    assert DataJob.objects.filter(kind=DataJob.Kind.COMPANY_DELETION).count() == 1


def test_old_session_and_old_token_fail_the_instant_deletion_starts(company, admin, client):
    make_company_data(company)
    client.force_login(admin)
    assert client.get("/settings/data/").status_code == 200
    token_api = ApiClient(admin)
    assert token_api.get(PREFLIGHT).status_code == 200
    other_token_user = User.objects.get(company=company, name=PERSONAL_NAME)
    assert ApiToken.objects.filter(user=other_token_user, revoked_at__isnull=True).exists()

    response = token_api.post(DELETE, confirm(company))
    assert response.status_code == 202

    assert token_api.get(PREFLIGHT).status_code == 401  # the old token
    assert token_api.get("/api/v1/deletions/" + token_of(response.json()["status_url"])).status_code == 200
    response = client.get("/settings/data/")  # the old session cookie
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert client.get(f"/api/v1/{PREFLIGHT}").status_code == 401
    assert not ApiToken.objects.filter(company=company, revoked_at__isnull=True).exists()


def test_old_session_and_old_token_of_another_user_fail_too(company, api, client):
    """A member who logged in and made a token BEFORE the administrator confirmed: both are refused after."""
    member = make_company_data(company)
    response = client.post("/login/", {"username": member.email, "password": PASSWORD})
    assert response.status_code == 302 and "_auth_user_id" in client.session
    member_token = ApiClient(member)
    assert client.get("/contacts/").status_code == 200  # the session works before...
    assert client.get("/api/v1/contacts").status_code == 200
    assert member_token.get("contacts").status_code == 200  # ...and so does the token

    assert api.post(DELETE, confirm(company)).status_code == 202

    response = client.get("/contacts/", follow=True)  # the same cookie as before
    assert response.redirect_chain[0][0].startswith("/login/")
    assert "This company&#x27;s data is being deleted." in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert client.get("/api/v1/contacts").status_code == 401
    assert member_token.get("contacts").status_code == 401  # the same token as before


def test_session_from_before_the_request_ends_with_the_message(company, admin, admin_client, api):
    response = api.post(DELETE, confirm(company))
    assert response.status_code == 202
    response = admin_client.get("/settings/data/", follow=True)
    assert "This company&#x27;s data is being deleted." in response.content.decode()


def test_logins_are_refused_while_the_company_is_being_deleted(company, admin, started):
    client = Client()
    response = client.post("/login/", {"username": admin.email, "password": PASSWORD})
    assert response.status_code == 200  # the login form again, with the reason; no redirect into Keel
    assert "This company&#x27;s data is being deleted." in response.content.decode()
    assert "_auth_user_id" not in client.session  # the client that tried to log in holds no session
    response = Client().post(
        "/api/v1/auth/token", json.dumps({"email": admin.email, "password": PASSWORD}), content_type="application/json"
    )
    assert response.status_code == 403
    assert response.json()["error"]["message"] == "This company's data is being deleted."


def test_campaigns_and_workflows_stop_and_tokens_are_revoked(company, admin):
    campaign = Campaign.objects.create(company=company, name="Spring", status=Campaign.Status.DRAFT)
    company_deletion.start_company_deletion(company, requested_by=admin)
    # Blockers normally leave nothing active; a campaign started in the race window is stopped with the rest.
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.SENDING)
    Workflow.objects.create(company=company, name="W", status=Workflow.Status.ACTIVE)
    company_deletion.revoke_access(company)
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.STOPPED
    assert not Workflow.objects.filter(company=company, status=Workflow.Status.ACTIVE).exists()


def test_status_link_is_emailed_and_no_notice_is_left(company, admin, started):
    assert [m.to for m in mail.outbox] == [[admin.email]]
    message = mail.outbox[0]
    assert "being deleted" in message.subject
    assert started["status_url"].replace("http://testserver", "") in message.body
    assert not Notice.objects.filter(company=company, message__icontains="deleted").exists()


def test_page_confirmation_redirects_to_the_public_status_page(company, admin_client):
    response = admin_client.post(PAGE, {"company_name": "Acme", "password": PASSWORD})
    assert response.status_code == 302
    status_page = response["Location"]
    assert re.fullmatch(r"/deletion-status/[A-Za-z0-9_-]{40,}/", status_page)
    response = admin_client.get(status_page)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Your company's data is being deleted." in html
    assert 'role="progressbar"' in html
    assert response["Cache-Control"] == "no-store" and response["Referrer-Policy"] == "no-referrer"
    assert "This company&#x27;s data is being deleted." in html  # the session ended on the way


# --- the public status ------------------------------------------------------------------------------------------------


def test_public_status_has_exactly_the_documented_fields(company, started):
    anonymous = Client()
    response = anonymous.get("/api/v1/deletions/" + token_of(started["status_url"]))
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"state", "progress", "counts", "completed_at", "receipt_id"}
    assert body["state"] == "running" and body["completed_at"] is None
    assert set(body["progress"]) == {"done", "total", "percent"}


def test_unknown_status_link_is_404(db):
    anonymous = Client()
    assert anonymous.get("/api/v1/deletions/" + "x" * 43).status_code == 404
    assert anonymous.get("/deletion-status/" + "x" * 43 + "/").status_code == 404
    assert anonymous.get("/deletion-status/" + "y" * 300 + "/").status_code == 404


def test_status_of_one_deletion_never_shows_another(company, other_company, started, other_api):
    theirs = other_api.post(DELETE, confirm(other_company)).json()
    run_queued_jobs()
    mine = Client().get("/api/v1/deletions/" + token_of(started["status_url"])).json()
    other = Client().get("/api/v1/deletions/" + token_of(theirs["status_url"])).json()
    assert mine["receipt_id"] != other["receipt_id"]
    assert mine["counts"]["contacts"] == 4 and "contacts" not in other["counts"]


# --- the job ----------------------------------------------------------------------------------------------------------


def test_deletion_removes_everything_of_the_company_and_nothing_else(
    company, admin, other_company, api, django_capture_on_commit_callbacks
):
    make_company_data(company)
    make_company_data(other_company)
    company_id = company.pk
    before_counts = {e: n for e, n in api.get(PREFLIGHT).json()["counts"].items() if n}
    files_before = stored_files(company_id)
    assert len(files_before) == 3  # two attachments and one export archive
    assert FILLED_TABLES <= set(rows_of_company(company_id))  # the scan below is of tables that held rows
    other_before = dump_company(other_company.pk)

    with django_capture_on_commit_callbacks(execute=True):
        started = api.post(DELETE, confirm(company)).json()
    with django_capture_on_commit_callbacks(execute=True):
        run_queued_jobs()

    # Every tenant table scanned, and the storage folder: nothing of the company is left.
    assert rows_of_company(company_id) == {}
    assert eraser.remaining_rows(company_id, graph.tenant_models()) == {}
    assert stored_files(company_id) == {} and eraser.remaining_files(company_id) == []
    assert not Company.objects.filter(pk=company_id).exists()
    # The second company with the same data is unchanged, row for row and file for file.
    assert dump_company(other_company.pk) == other_before

    receipt = DeletionReceipt.objects.get(company_id_deleted=company_id)
    assert receipt.state == "succeeded" and receipt.completed_at is not None
    assert receipt.files_deleted == 3
    for entity, n in before_counts.items():
        assert receipt.rows_deleted[entity] >= n, entity
    assert receipt.rows_deleted["contacts"] == 4 and receipt.rows_deleted["users"] == 2
    assert receipt.progress_done == receipt.progress_total

    status = Client().get("/api/v1/deletions/" + token_of(started["status_url"])).json()
    assert status["state"] == "succeeded" and status["progress"]["percent"] == 100
    assert status["receipt_id"] == str(receipt.receipt_id)
    assert status["counts"]["contacts"] == 4 and status["counts"]["files"] == 3
    assert status["completed_at"] is not None

    confirmation = mail.outbox[-1]
    assert confirmation.to == [admin.email] and "System confirmation" in confirmation.subject
    assert str(receipt.receipt_id) in confirmation.body and "Files deleted: 3" in confirmation.body


def test_receipt_holds_no_personal_data(company, admin, started):
    run_queued_jobs()
    receipt = DeletionReceipt.objects.get()
    stored = json.dumps(list(DeletionReceipt.objects.filter(pk=receipt.pk).values()), default=str)
    for personal in (admin.email, PERSONAL_NAME, "Grace", "Hopper", "person0@example.com", "Acme", company.slug, "@"):
        assert personal not in stored
    public = json.dumps(Client().get("/api/v1/deletions/" + token_of(started["status_url"])).json())
    for personal in (admin.email, PERSONAL_NAME, "Acme", "@"):
        assert personal not in public


def test_revoke_hook_is_called_before_any_row_goes_and_credentials_are_gone(transactional_db, company, admin, settings):
    with RevokeHookServer(company.pk) as provider:
        settings.KEEL_OUTBOUND_ALLOWLIST = [provider.url.split("/")[2]]  # the loopback listener: not a public address
        make_company_data(company, revoke_url=provider.url)
        company_deletion.start_company_deletion(company, requested_by=admin)
        run_queued_jobs()
    assert len(provider.calls) == 1
    call = provider.calls[0]
    assert call["path"] == "/revoke"
    assert call["form"]["token"] == [f"secret-token-{company.pk}"]
    assert call["contacts"] == 4  # the provider was told before anything of the company was deleted
    assert not IntegrationConnection.objects.filter(company_id=company.pk).exists()
    assert DeletionReceipt.objects.get().rows_deleted["integration_connections"] == 1


def test_integration_step_wipes_credentials_and_touches_nothing_else(company, admin):
    make_company_data(company)
    company_deletion.start_company_deletion(company, requested_by=admin)
    contacts_before = Contact.objects.filter(company=company).count()
    company_deletion._disconnect_integrations(Company.objects.get(pk=company.pk))
    assert not IntegrationConnection.objects.filter(company=company).exists()
    assert Contact.objects.filter(company=company).count() == contacts_before == 4


def test_name_and_emails_are_free_again_after_completion(company, admin, started):
    member = User.objects.get(company=company, name=PERSONAL_NAME)
    run_queued_jobs()
    again, again_admin = do_create_company("Acme", admin.email, PASSWORD)
    assert again.pk != company.pk and again_admin.email == admin.email
    assert make_user(again, "member", email=member.email).email == member.email
    response = Client().post(
        "/api/v1/auth/token", json.dumps({"email": admin.email, "password": PASSWORD}), content_type="application/json"
    )
    assert response.status_code == 201  # the new company's administrator signs in with the reused address


def test_job_never_deletes_an_active_company(company, admin):
    make_company_data(company)
    receipt = DeletionReceipt.objects.create(company_id_deleted=company.pk, status_token_hash="0" * 64)
    job = DataJob.objects.create(
        company=company, kind=DataJob.Kind.COMPANY_DELETION, params={"receipt_id": str(receipt.receipt_id)}
    )
    rows_before, files_before = dump_company(company.pk)
    finished = run_job(job.pk)
    assert finished.state == "failed" and "not marked for deletion" in finished.error
    rows_after, files_after = dump_company(company.pk)
    rows_before.pop("jobs.DataJob"), rows_after.pop("jobs.DataJob")  # only the job row itself changed
    assert (rows_after, files_after) == (rows_before, files_before)
    assert Company.objects.get(pk=company.pk).is_active


def test_nothing_is_reported_deleted_while_something_is_left(company, admin, started):
    """The final transaction verifies; if a row of the company is still there, the company row stays."""
    job = DataJob.objects.get(pk=started["job"]["id"])
    receipt = DeletionReceipt.objects.get()
    DataJob.objects.filter(pk=job.pk).update(state=DataJob.State.RUNNING, attempts=1)
    job.refresh_from_db()

    tracker = company_deletion.ReceiptProgress(Progress(job), receipt)
    assert Contact.objects.filter(company=company).exists()
    with pytest.raises(company_deletion.DeletionIncomplete):
        company_deletion._finish(job, tracker)
    assert Company.objects.filter(pk=company.pk).exists()
    assert DataJob.objects.filter(pk=job.pk).exists()
    assert DeletionReceipt.objects.get().state == "running"


def test_a_failed_job_leaves_the_company_closed_and_the_receipt_says_so(company, admin, started, settings):
    job = DataJob.objects.get(pk=started["job"]["id"])
    DataJob.objects.filter(pk=job.pk).update(state=DataJob.State.FAILED, error="boom")
    company_deletion.company_deletion_failed(DataJob.objects.get(pk=job.pk))
    status = Client().get("/api/v1/deletions/" + token_of(started["status_url"])).json()
    assert status["state"] == "failed"
    page = Client().get(started["status_url"].replace("http://testserver", "")).content.decode()
    assert "The deletion has not finished yet." in page
    assert Company.objects.get(pk=company.pk).status == "deleting"

    resumed = company_deletion.resume_company_deletion(Company.objects.get(pk=company.pk))
    assert resumed.pk != job.pk and resumed.params["requester_email"] == admin.email
    run_queued_jobs()
    assert DeletionReceipt.objects.get().state == "succeeded"
    assert not Company.objects.filter(pk=company.pk).exists()


def test_status_page_shows_the_system_confirmation_with_the_receipt(company, started):
    run_queued_jobs()
    receipt = DeletionReceipt.objects.get()
    response = Client().get(started["status_url"].replace("http://testserver", ""))
    assert response.status_code == 200
    html = response.content.decode()
    assert "System confirmation" in html
    assert str(receipt.receipt_id) in html
    assert re.search(r"<td>Contacts</td><td>4</td>", html)


# --- the system confirmation is sent at least once ------------------------------------------------------------------


def test_confirmation_that_cannot_be_sent_leaves_the_deletion_to_be_resumed(company, admin, started, settings):
    """The e-mail goes out inside the final transaction: if it fails, nothing is committed and the job runs again."""
    job_id = started["job"]["id"]
    mail.outbox.clear()
    with refusing_mail_server(settings):
        after_first_attempt = run_job(job_id)

    assert after_first_attempt is not None and after_first_attempt.state == "queued"  # to be retried
    assert DataJob.objects.get(pk=job_id).params["requester_email"] == admin.email  # the address is kept
    assert Company.objects.get(pk=company.pk).status == "deleting"
    assert not Contact.objects.filter(company_id=company.pk).exists()  # the rest was erased all the same
    receipt = DeletionReceipt.objects.get()
    assert receipt.state == "running" and receipt.completed_at is None
    assert Client().get("/api/v1/deletions/" + token_of(started["status_url"])).json()["state"] == "running"
    assert mail.outbox == []

    run_queued_jobs()  # e-mail works again

    receipt.refresh_from_db()
    assert receipt.state == "succeeded" and not Company.objects.filter(pk=company.pk).exists()
    [confirmation] = mail.outbox
    assert confirmation.to == [admin.email] and "System confirmation" in confirmation.subject
    assert str(receipt.receipt_id) in confirmation.body
    assert not DataJob.objects.filter(pk=job_id).exists()  # the address went with the job row, after the send


def test_confirmation_is_sent_once_when_nothing_fails(company, admin, started):
    mail.outbox.clear()
    run_queued_jobs()
    assert [m.subject for m in mail.outbox] == ["System confirmation: your company's data has been deleted"]


def test_no_confirmation_without_a_requester(company, admin):
    """The operators' command line starts deletions with no requester: there is nobody to e-mail."""
    make_company_data(company)
    company_deletion.start_company_deletion(company)
    run_queued_jobs()
    assert DeletionReceipt.objects.get().state == "succeeded"
    assert mail.outbox == []


# --- the bar moves while files are deleted ----------------------------------------------------------------------------


def test_progress_is_stored_while_files_are_deleted(company, started, monkeypatch):
    """Files are deleted one by one with the progress stored in between: a job stopped after the first stored
    step has deleted and counted exactly that much, on the receipt and on the job's bar."""
    monkeypatch.setattr(company_deletion, "FILES_PER_PROGRESS_SAVE", 1)
    job_id = started["job"]["id"]
    DataJob.objects.filter(pk=job_id).update(state=DataJob.State.RUNNING, attempts=1)
    job = DataJob.objects.get(pk=job_id)
    tracker = company_deletion.ReceiptProgress(Progress(job, heartbeat=False), DeletionReceipt.objects.get())
    company_deletion._plan(tracker)
    receipt = tracker.receipt  # the files are part of the bar's total
    assert receipt.files_total == 3 and receipt.progress_total == sum(receipt.rows_planned.values()) + 3
    assert tracker.progress.total == receipt.progress_total
    DataJob.objects.filter(pk=job_id).update(cancel_requested=True)  # the job stops at its next checkpoint

    with pytest.raises(JobCancelled):
        company_deletion._erase_files(company.pk, tracker)

    assert eraser.count_files(company.pk) == 2
    receipt = DeletionReceipt.objects.get()
    assert receipt.files_deleted == 1 and receipt.progress_done == 1
    assert DataJob.objects.get(pk=job_id).progress_done == 1


# --- what the status page says when something goes wrong ------------------------------------------------------------


def test_an_interrupted_deletion_says_it_is_retried_and_is_retried(company, admin, started, settings):
    job_id = started["job"]["id"]
    status_page = started["status_url"].replace("http://testserver", "")
    with refusing_mail_server(settings):
        for _ in range(settings.KEEL_JOB_MAX_ATTEMPTS + 1):  # more errors than other kinds of job are allowed
            run_job(job_id)
            job = DataJob.objects.get(pk=job_id)
            assert job.state == "queued"  # never given up: retried after a pause
            assert DeletionReceipt.objects.get().step == company_deletion.INTERRUPTED_STEP
    html = Client().get(status_page).content.decode()
    assert "An error interrupted the deletion. Keel retries it automatically" in html
    assert "alerted" not in html
    assert Client().get("/api/v1/deletions/" + token_of(started["status_url"])).json()["state"] == "running"

    run_queued_jobs()
    assert DeletionReceipt.objects.get().step == "Completed"
    assert "System confirmation" in Client().get(status_page).content.decode()


def test_a_deletion_stopped_for_good_says_an_operator_resumes_it(company, started):
    job = DataJob.objects.get(pk=started["job"]["id"])
    DataJob.objects.filter(pk=job.pk).update(state=DataJob.State.FAILED, error="boom")
    company_deletion.company_deletion_failed(DataJob.objects.get(pk=job.pk))
    html = Client().get(started["status_url"].replace("http://testserver", "")).content.decode()
    assert "It stays stopped until an operator resumes it with the command keel delete-company." in html
    assert "alerted" not in html and "will finish it" not in html
