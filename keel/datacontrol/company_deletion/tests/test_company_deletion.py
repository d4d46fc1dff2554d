"""Delete company data: who may see and do it, what blocks it, and the confirmation with re-authentication."""

import re

import pytest
from django.core import mail
from django.test import Client

from keel.accounts.models import Company, Role
from keel.accounts.permissions import ADMIN
from keel.datacontrol import graph
from keel.datacontrol.company_deletion import actions as deletion_actions
from keel.datacontrol.company_deletion.tests.factories import confirm
from keel.datacontrol.models import DeletionReceipt
from keel.jobs.models import DataJob
from keel.marketing.models import Campaign, Workflow
from keel.testing import PASSWORD, ApiClient, fill_every_tenant_table, make_user

DELETE = "company/delete"
PREFLIGHT = "company/deletion/preflight"
PAGE = "/settings/data/delete/"


# --- who may see and do it ------------------------------------------------------------------------------------------


def test_page_shows_irreversibility_counts_latest_export_and_the_form(company, admin_client):
    fill_every_tenant_table(company)
    response = admin_client.get(PAGE)
    assert response.status_code == 200
    html = response.content.decode()
    assert "This action is irreversible." in html
    assert "Always export data before deletion" in html
    assert 'href="/settings/data/export/"' in html
    assert "Your latest export was created on" in html
    assert re.search(r"<td>Contacts</td><td>7</td>", html)
    assert re.search(r"<td>Contact history events</td><td>14</td>", html)
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
    fill_every_tenant_table(company, contacts=4)
    fill_every_tenant_table(other_company, contacts=2)
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
    deletion_actions.do_send_deletion_code(admin.company, actor=admin)
    code = re.search(r"\b(\d{6})\b", mail.outbox[-1].body).group(1)
    with pytest.raises(Exception) as refused:
        deletion_actions.do_request_company_deletion(admin.company, "Acme", "wrong password", code, actor=admin)
    assert refused.value.code == "reauthentication_failed"
    deletion_actions.do_request_company_deletion(admin.company, "Acme", PASSWORD, code, actor=admin)
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
