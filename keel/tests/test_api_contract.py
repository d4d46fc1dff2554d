"""The JSON API as the issues promise it: paths, status codes, error codes and response keys, one promise each.

Other tests check behaviour in depth; these pin the contract that outside callers rely on, so a change of a status
code, an error code or a missing key fails here first.
"""

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from keel.accounts.models import Role
from keel.contacts.models import Contact
from keel.datacontrol.models import ExportArchive
from keel.marketing.models import Campaign, Workflow
from keel.testing import PASSWORD, ApiClient, assert_error, grant, make_company, run_queued_jobs

JOB_KEYS = {"id", "kind", "state", "progress", "step", "created_at", "started_at", "finished_at", "error", "result"}
PROGRESS_KEYS = {"done", "total", "percent"}
EXPORT_KEYS = {
    "id",
    "state",
    "scope",
    "progress",
    "created_at",
    "finished_at",
    "expires_at",
    "size",
    "sha256",
    "download_url",
}


def assert_job(job, kind=None):
    assert set(job) >= JOB_KEYS
    assert set(job["progress"]) >= PROGRESS_KEYS
    if kind is not None:
        assert job["kind"] == kind
    return job


def csv_file(rows=("Email,First name", "ada@example.com,Ada")):
    return SimpleUploadedFile("contacts.csv", ("\n".join(rows) + "\n").encode(), content_type="text/csv")


def new_contact(company, email="grace@example.com"):
    return Contact.objects.create(company=company, email=email, first_name="Grace")


# --- auth and errors ------------------------------------------------------------------------------------------------


def test_token_201_with_token_and_401_for_bad_credentials(admin):
    client = Client()
    good = client.post(
        "/api/v1/auth/token", {"email": admin.email, "password": PASSWORD}, content_type="application/json"
    )
    assert good.status_code == 201 and set(good.json()) >= {"token"}
    me = client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {good.json()['token']}")
    assert me.status_code == 200
    bad = client.post(
        "/api/v1/auth/token", {"email": admin.email, "password": "wrong"}, content_type="application/json"
    )
    assert_error(bad, 401)


@pytest.mark.parametrize("headers", [{}, {"HTTP_AUTHORIZATION": "Bearer not-a-token"}])
def test_requests_without_valid_credentials_answer_401_unauthenticated(db, headers):
    assert_error(Client().get("/api/v1/me", **headers), 401, "unauthenticated")


@pytest.mark.parametrize(
    "method,path,status",
    [("get", "no-such-endpoint", 404), ("get", "contacts/not-a-number", 404), ("put", "contacts", 405)],
)
def test_unknown_paths_and_methods_answer_in_the_error_shape(api, method, path, status):
    call = getattr(api.client, method)
    response = call(f"/api/v1/{path}", HTTP_AUTHORIZATION=f"Bearer {api.token}")
    assert response["Content-Type"].startswith("application/json")
    assert_error(response, status)


def test_a_body_that_is_not_json_is_400_naming_the_body(api):
    response = api.client.post(
        "/api/v1/contacts", "{not json", content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {api.token}"
    )
    assert assert_error(response, 400, "invalid_body")["field"] == "body"


def test_me_names_user_company_and_permissions(api, admin, company):
    body = api.get("me").json()
    assert set(body) >= {"user", "company", "permissions"}
    assert set(body["user"]) >= {"id", "email", "role"} and body["user"]["email"] == admin.email
    assert set(body["company"]) >= {"id", "name", "plan", "status"} and body["company"]["id"] == company.pk
    assert "export_company_data" in body["permissions"] and "delete_all_crm_records" not in body["permissions"]


# --- contacts ------------------------------------------------------------------------------------------------------


def test_contacts_crud_and_events(api):
    created = api.post("contacts", {"email": "ada@example.com", "first_name": "Ada"})
    assert created.status_code == 201
    contact_id = created.json()["id"]
    listed = api.get("contacts", {"q": "ada"})
    assert listed.status_code == 200 and [c["id"] for c in listed.json()["items"]] == [contact_id]
    assert api.get(f"contacts/{contact_id}").status_code == 200
    patched = api.patch(f"contacts/{contact_id}", {"last_name": "Lovelace"})
    assert patched.status_code == 200 and patched.json()["last_name"] == "Lovelace"
    event = api.post(f"contacts/{contact_id}/events", {"kind": "call", "title": "Called"})
    assert event.status_code == 201
    events = api.get(f"contacts/{contact_id}/events")
    assert events.status_code == 200 and event.json()["id"] in [e["id"] for e in events.json()["items"]]
    assert api.delete(f"contacts/{contact_id}").status_code == 204
    assert_error(api.get(f"contacts/{contact_id}"), 404)


def test_invalid_input_is_422_naming_the_field(api, company):
    contact = new_contact(company)
    error = assert_error(api.post(f"contacts/{contact.pk}/events", {"title": "No kind"}), 422)
    assert "kind" in error["message"]


@pytest.mark.parametrize(
    "method,path,body",
    [
        ("get", "contacts/{id}", None),
        ("patch", "contacts/{id}", {"first_name": "X"}),
        ("delete", "contacts/{id}", None),
        ("get", "contacts/{id}/events", None),
        ("post", "contacts/{id}/events", {"kind": "call", "title": "Called"}),
    ],
)
def test_another_companys_contact_is_404(other_api, company, method, path, body):
    contact = new_contact(company)
    call = getattr(other_api, method)
    response = call(path.format(id=contact.pk)) if body is None else call(path.format(id=contact.pk), body)
    assert_error(response, 404)
    assert Contact.objects.filter(pk=contact.pk, first_name="Grace").exists()


# --- users and roles ------------------------------------------------------------------------------------------------


def test_users_list_create_and_change(api, member_api, company):
    member_role = Role.objects.get(company=company, kind="member")
    manager_role = Role.objects.get(company=company, kind="manager")
    assert api.get("users").status_code == 200
    created = api.post(
        "users", {"email": "new@acme.test", "name": "New", "role_id": member_role.pk, "password": PASSWORD}
    )
    assert created.status_code == 201
    user_id = created.json()["id"]
    patched = api.patch(f"users/{user_id}", {"role_id": manager_role.pk, "is_active": False})
    assert patched.status_code == 200 and patched.json()["role_id"] == manager_role.pk
    assert patched.json()["is_active"] is False
    assert_error(member_api.get("users"), 403, "permission_denied")
    assert_error(
        member_api.post("users", {"email": "x@acme.test", "name": "X", "role_id": member_role.pk}),
        403,
        "permission_denied",
    )


def test_roles_patch_grants_delete_all_crm_records_to_the_admin_role_only(api, member_api, other_api, company):
    admin_role = Role.objects.get(company=company, kind="admin")
    member_role = Role.objects.get(company=company, kind="member")
    assert api.get("roles").status_code == 200
    assert api.get(f"roles/{admin_role.pk}").json()["permissions"]["delete_all_crm_records"] is False
    patched = api.patch(f"roles/{admin_role.pk}", {"permissions": {"delete_all_crm_records": True}})
    assert patched.status_code == 200 and patched.json()["permissions"]["delete_all_crm_records"] is True
    refused = api.patch(f"roles/{member_role.pk}", {"permissions": {"delete_all_crm_records": True}})
    assert 400 <= refused.status_code < 500 and refused.json()["error"]["message"]
    assert_error(
        member_api.patch(f"roles/{admin_role.pk}", {"permissions": {"delete_all_crm_records": False}}),
        403,
        "permission_denied",
    )
    assert_error(other_api.get(f"roles/{admin_role.pk}"), 404)


# --- campaigns, workflows, integrations ---------------------------------------------------------------------------


def test_campaigns_create_recipients_start_stop(api, member_api, other_api, company):
    contact = new_contact(company)
    assert api.get("campaigns").status_code == 200
    created = api.post("campaigns", {"name": "Spring"})
    assert created.status_code == 201
    campaign_id = created.json()["id"]
    added = api.post(f"campaigns/{campaign_id}/recipients", {"contact_ids": [contact.pk]})
    assert added.status_code == 200 and added.json()["added"] == 1
    assert api.post(f"campaigns/{campaign_id}/start").json()["status"] == Campaign.Status.SENDING
    stopped = api.post(f"campaigns/{campaign_id}/stop")
    assert stopped.status_code == 200 and stopped.json()["status"] != Campaign.Status.SENDING
    assert_error(member_api.post("campaigns", {"name": "No"}), 403, "permission_denied")
    for action in ("start", "stop"):
        assert_error(other_api.post(f"campaigns/{campaign_id}/{action}"), 404)
    assert_error(other_api.post(f"campaigns/{campaign_id}/recipients", {"contact_ids": [contact.pk]}), 404)


def test_workflows_create_enroll_activate_deactivate(api, member_api, other_api, company):
    contact = new_contact(company)
    assert api.get("workflows").status_code == 200
    created = api.post("workflows", {"name": "Welcome"})
    assert created.status_code == 201
    workflow_id = created.json()["id"]
    enrolled = api.post(f"workflows/{workflow_id}/enrollments", {"contact_ids": [contact.pk]})
    assert enrolled.status_code == 200 and enrolled.json()["added"] == 1
    assert api.post(f"workflows/{workflow_id}/activate").json()["status"] == Workflow.Status.ACTIVE
    deactivated = api.post(f"workflows/{workflow_id}/deactivate")
    assert deactivated.status_code == 200 and deactivated.json()["status"] != Workflow.Status.ACTIVE
    assert_error(member_api.post("workflows", {"name": "No"}), 403, "permission_denied")
    for action in ("activate", "deactivate"):
        assert_error(other_api.post(f"workflows/{workflow_id}/{action}"), 404)


def test_integrations_never_return_the_access_token(api, member_api, other_api):
    secret = "tok-never-shown-4711"
    created = api.post("integrations", {"provider": "Mailer", "access_token": secret})
    assert created.status_code == 201
    connection_id = created.json()["id"]
    for response in (created, api.get("integrations"), api.get(f"integrations/{connection_id}")):
        assert response.status_code in (200, 201) and secret not in response.content.decode()
        assert "access_token" not in response.content.decode()
    assert_error(member_api.get("integrations"), 403, "permission_denied")
    assert_error(other_api.delete(f"integrations/{connection_id}"), 404)
    assert api.delete(f"integrations/{connection_id}").status_code == 204


# --- jobs and imports ---------------------------------------------------------------------------------------------


def test_import_202_job_shape_cancel_and_409_with_the_running_jobs_id(api, other_api):
    started = api.upload("imports", {"file": csv_file()})
    assert started.status_code == 202
    job = assert_job(started.json()["job"], "import")
    fetched = api.get(f"jobs/{job['id']}")
    assert fetched.status_code == 200 and assert_job(fetched.json())["state"] == "queued"
    assert_error(other_api.get(f"jobs/{job['id']}"), 404)
    assert_error(other_api.post(f"jobs/{job['id']}/cancel"), 404)

    second = assert_error(api.upload("imports", {"file": csv_file()}), 409, "operation_in_progress")
    assert second["job_id"] == job["id"]

    cancelled = api.post(f"jobs/{job['id']}/cancel")
    assert cancelled.status_code == 200 and assert_job(cancelled.json())["state"] == "cancelled"


def test_import_job_runs_to_succeeded(api):
    job = api.upload("imports", {"file": csv_file()}).json()["job"]
    run_queued_jobs()
    body = assert_job(api.get(f"jobs/{job['id']}").json())
    assert body["state"] == "succeeded" and body["progress"]["percent"] == 100 and body["finished_at"]


# --- exports ------------------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)  # the exporter reads committed rows through its own snapshot
def test_export_lifecycle(api, company):
    started = api.post("exports", {"scope": ["contacts"]})
    assert started.status_code == 202
    export = started.json()
    assert set(export) >= EXPORT_KEYS and set(export["progress"]) >= PROGRESS_KEYS
    assert export["scope"] == ["contacts"] and export["download_url"] is None
    assert_error(api.get(f"exports/{export['id']}/download"), 409, "export_not_ready")

    run_queued_jobs()
    listed = api.get("exports")
    assert listed.status_code == 200 and [e["id"] for e in listed.json()] == [export["id"]]
    done = api.get(f"exports/{export['id']}").json()
    assert done["state"] == "succeeded" and done["download_url"] and done["sha256"] and done["size"]
    download = api.get(f"exports/{export['id']}/download")
    assert download.status_code == 200 and download["Content-Type"] == "application/zip"
    disposition = download["Content-Disposition"]
    created = ExportArchive.objects.get(pk=export["id"]).created_at
    assert company.slug in disposition and f"{created:%Y-%m-%d}" in disposition

    ExportArchive.objects.filter(pk=export["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))
    from keel.datacontrol.export.actions import expire_exports

    expire_exports()
    assert_error(api.get(f"exports/{export['id']}/download"), 410, "export_expired")
    assert api.delete(f"exports/{export['id']}").status_code == 204
    assert_error(api.get(f"exports/{export['id']}"), 404)


def test_export_default_scope_and_unknown_scope_422_naming_it(api):
    error = assert_error(api.post("exports", {"scope": ["contacts", "spaceships"]}), 422)
    assert "spaceships" in error["message"]
    default = api.post("exports")
    assert default.status_code == 202 and set(default.json()["scope"]) >= {"contacts", "users", "audit_log"}


def test_exports_refused_for_members_other_companies_free_plan_and_over_the_limit(api, member_api, other_api, settings):
    export_id = api.post("exports").json()["id"]
    for path in ("exports", f"exports/{export_id}", f"exports/{export_id}/download"):
        assert_error(member_api.get(path), 403, "permission_denied")
    assert_error(member_api.post("exports"), 403, "permission_denied")
    assert_error(member_api.delete(f"exports/{export_id}"), 403, "permission_denied")
    for path in (f"exports/{export_id}", f"exports/{export_id}/download"):
        assert_error(other_api.get(path), 404)
    assert_error(other_api.delete(f"exports/{export_id}"), 404)

    free = make_company("Initech", plan="free")
    assert_error(ApiClient(free.admin).post("exports"), 403, "plan_not_eligible")

    settings.KEEL_EXPORTS_PER_DAY = 1
    assert_error(api.post("exports"), 429, "rate_limited")


# --- delete all CRM records ---------------------------------------------------------------------------------------


def test_crm_delete_all_contract(api, member_api, other_api, company):
    contact = new_contact(company)
    assert_error(api.post("crm/delete-all", {"confirm": True}), 403, "permission_denied")  # not granted yet
    grant(company, "delete_all_crm_records")
    assert_error(member_api.post("crm/delete-all", {"confirm": True}), 403, "permission_denied")
    assert_error(api.get("crm/deletion"), 404)
    for body in ({}, {"confirm": False}):
        error = assert_error(api.post("crm/delete-all", body), 422)
        assert "confirm" in error["message"] or error.get("field") == "confirm"

    started = api.post("crm/delete-all", {"confirm": True})
    assert started.status_code == 202
    job = assert_job(started.json()["job"], "crm_deletion")
    latest = api.get("crm/deletion")
    assert latest.status_code == 200 and assert_job(latest.json())["id"] == job["id"]
    assert_error(other_api.get("crm/deletion"), 404)

    assert_error(api.upload("imports", {"file": csv_file()}), 409, "crm_deletion_in_progress")
    assert_error(api.post("contacts", {"email": "late@example.com"}), 409, "crm_deletion_in_progress")
    run_queued_jobs()
    assert not Contact.objects.filter(pk=contact.pk).exists()
    assert api.get("crm/deletion").json()["state"] == "succeeded"
    assert api.upload("imports", {"file": csv_file()}).status_code == 202


def test_crm_deletion_refused_while_an_import_runs(api, company):
    grant(company, "delete_all_crm_records")
    import_job = api.upload("imports", {"file": csv_file()}).json()["job"]
    error = assert_error(api.post("crm/delete-all", {"confirm": True}), 409, "operation_in_progress")
    assert error["job_id"] == import_job["id"]


# --- delete company -----------------------------------------------------------------------------------------------


def test_company_deletion_preflight_blockers_and_checks(api, member_api, company):
    Workflow.objects.create(company=company, name="Nurture", status=Workflow.Status.ACTIVE)
    preflight = api.get("company/deletion/preflight")
    assert preflight.status_code == 200 and set(preflight.json()) >= {"blockers", "counts"}
    blockers = preflight.json()["blockers"]
    assert blockers and all(set(b) >= {"code", "message"} for b in blockers)
    assert isinstance(preflight.json()["counts"], dict)
    confirm = {"company_name": company.name, "password": PASSWORD}
    blocked = assert_error(api.post("company/delete", confirm), 409, "deletion_blocked")
    assert blocked["blockers"]

    Workflow.objects.filter(company=company).update(status=Workflow.Status.INACTIVE)
    assert api.get("company/deletion/preflight").json()["blockers"] == []
    wrong_name = {**confirm, "company_name": "Acme Inc"}
    assert_error(api.post("company/delete", wrong_name), 422, "confirmation_mismatch")
    assert_error(api.post("company/delete", {**confirm, "password": "wrong"}), 403, "reauthentication_failed")
    assert_error(member_api.get("company/deletion/preflight"), 403, "permission_denied")
    assert_error(member_api.post("company/delete", confirm), 403, "permission_denied")


def test_company_deletion_202_and_public_status(api, company):
    started = api.post("company/delete", {"company_name": company.name, "password": PASSWORD})
    assert started.status_code == 202
    body = started.json()
    assert set(body) >= {"job", "status_url"}
    assert_job(body["job"], "company_deletion")
    assert_error(api.get("me"), 401)  # the old token is dead at once

    # status_url is the status page (/deletion-status/<token>/); its token opens the public API status.
    anonymous = Client()
    page_path = body["status_url"].removeprefix("http://testserver")
    assert page_path.startswith("/deletion-status/") and anonymous.get(page_path).status_code == 200
    status_api = f"/api/v1/deletions/{page_path.rstrip('/').rsplit('/', 1)[-1]}"
    status = anonymous.get(status_api)
    assert status.status_code == 200
    assert set(status.json()) == {"state", "step", "progress", "seconds_left", "counts", "completed_at", "receipt_id"}
    assert set(status.json()["progress"]) >= PROGRESS_KEYS
    run_queued_jobs()
    final = anonymous.get(status_api).json()
    assert final["state"] == "succeeded" and final["completed_at"] and final["receipt_id"]
    assert set(final) == {"state", "step", "progress", "seconds_left", "counts", "completed_at", "receipt_id"}
    assert_error(anonymous.get("/api/v1/deletions/not-a-real-token"), 404)
