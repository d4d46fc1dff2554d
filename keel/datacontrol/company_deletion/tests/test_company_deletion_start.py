"""Delete company data: what confirming does at once (the company closes, access ends) and the public status."""

import hashlib
import json
import re

import pytest
from django.core import mail
from django.test import Client

from keel.accounts.models import ApiToken, Company, Notice
from keel.datacontrol.company_deletion import actions as deletion_actions
from keel.datacontrol.company_deletion.tests.factories import confirm, start_deletion, token_of
from keel.datacontrol.models import DeletionReceipt
from keel.errors import Conflict
from keel.jobs.models import DataJob
from keel.jobs.runner import OperationInProgress
from keel.jobs.tasks import create_job
from keel.marketing.models import Campaign, Workflow
from keel.testing import PASSWORD, ApiClient, fill_every_tenant_table, run_queued_jobs

DELETE = "company/delete"
PREFLIGHT = "company/deletion/preflight"
PAGE = "/settings/data/delete/"


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
        start_deletion(Company.objects.get(pk=company.pk), admin)
    assert refused.value.code == "deletion_in_progress"
    with pytest.raises(OperationInProgress):  # and the database constraint refuses a second job by itself
        create_job(company, DataJob.Kind.COMPANY_DELETION)
    assert DataJob.objects.filter(kind=DataJob.Kind.COMPANY_DELETION).count() == 1


def test_old_session_and_old_token_fail_the_instant_deletion_starts(company, admin, client):
    filled = fill_every_tenant_table(company)
    ApiToken.issue(filled.member, "reports")  # a token of another user than the one who confirms
    client.force_login(admin)
    assert client.get("/settings/data/").status_code == 200
    token_api = ApiClient(admin)
    assert token_api.get(PREFLIGHT).status_code == 200
    assert ApiToken.objects.filter(user=filled.member, revoked_at__isnull=True).exists()

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
    member = fill_every_tenant_table(company).member
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
    start_deletion(company, admin)
    # Blockers normally leave nothing active; a campaign started in the race window is stopped with the rest.
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.SENDING)
    Workflow.objects.create(company=company, name="W", status=Workflow.Status.ACTIVE)
    deletion_actions.revoke_access(company)
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
    assert set(body) == {"state", "step", "progress", "seconds_left", "counts", "completed_at", "receipt_id"}
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
    assert mine["counts"]["contacts"] == 7 and "contacts" not in other["counts"]
