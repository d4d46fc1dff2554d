"""GET /api/v1/jobs/{id} and POST /api/v1/jobs/{id}/cancel."""

import pytest
from django.test import Client

from keel.audit.models import AuditEvent
from keel.jobs.models import DataJob
from keel.jobs.tasks import create_job
from keel.testing import ApiClient, make_user

KEYS = {"id", "kind", "state", "progress", "step", "created_at", "started_at", "finished_at", "error", "result"}


@pytest.fixture
def importer(company):
    return make_user(company, "manager")  # managers may import contacts


def test_a_job_is_shown_with_exactly_the_documented_fields(api, company):
    job = create_job(company, DataJob.Kind.EXPORT, company.admin)
    DataJob.objects.filter(pk=job.pk).update(
        state="running", progress_done=25, progress_total=200, step="Writing contacts.csv", result={"a": 1}
    )
    response = api.get(f"jobs/{job.pk}")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == KEYS
    assert body["id"] == job.pk and body["kind"] == "export" and body["state"] == "running"
    assert body["progress"] == {"done": 25, "total": 200, "percent": 12}
    assert body["step"] == "Writing contacts.csv"
    assert body["started_at"] is None and body["finished_at"] is None
    assert body["error"] == "" and body["result"] == {"a": 1}
    assert body["created_at"].startswith(str(job.created_at.year))


def test_another_companys_job_is_not_found(api, other_company):
    job = create_job(other_company, DataJob.Kind.IMPORT, other_company.admin)
    assert api.get(f"jobs/{job.pk}").status_code == 404
    assert api.post(f"jobs/{job.pk}/cancel").status_code == 404
    assert api.get("jobs/999999").status_code == 404
    job.refresh_from_db()
    assert not job.cancel_requested


def test_who_sees_which_job(company, admin, importer, member):
    export = create_job(company, DataJob.Kind.EXPORT, admin)
    deletion = create_job(company, DataJob.Kind.CRM_DELETION, admin)
    member_api, importer_api = ApiClient(member), ApiClient(importer)
    # Exports are for Company Administrators (and whoever started one).
    assert member_api.get(f"jobs/{export.pk}").status_code == 403
    assert member_api.get(f"jobs/{export.pk}").json()["error"]["code"] == "permission_denied"
    assert importer_api.get(f"jobs/{export.pk}").status_code == 403
    # A CRM deletion's progress is shown to everyone on the CRM Contacts page.
    assert member_api.get(f"jobs/{deletion.pk}").status_code == 200
    DataJob.objects.filter(pk=deletion.pk).update(state="succeeded")
    imported = create_job(company, DataJob.Kind.IMPORT, admin)
    # Imports: whoever may import contacts.
    assert importer_api.get(f"jobs/{imported.pk}").status_code == 200
    assert member_api.get(f"jobs/{imported.pk}").status_code == 403


def test_the_api_needs_authentication(company):
    job = create_job(company, DataJob.Kind.IMPORT, company.admin)
    response = Client().get(f"/api/v1/jobs/{job.pk}")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"


def test_the_requester_cancels_a_queued_import_at_once(company, importer):
    job = create_job(company, DataJob.Kind.IMPORT, importer)
    response = ApiClient(importer).post(f"jobs/{job.pk}/cancel")
    assert response.status_code == 200
    body = response.json()
    assert body["state"] == "cancelled" and body["error"] == "Cancelled by a user." and body["finished_at"]
    event = AuditEvent.objects.get(action="job.cancel_requested")
    assert (event.actor, event.target_id, event.metadata["kind"]) == (importer, str(job.pk), "import")


def test_a_running_import_is_asked_to_stop(api, company):
    job = create_job(company, DataJob.Kind.IMPORT, company.admin)
    DataJob.objects.filter(pk=job.pk).update(state="running", attempts=1)
    response = api.post(f"jobs/{job.pk}/cancel")
    assert response.status_code == 200
    assert response.json()["state"] == "running"  # it stops at its next batch boundary
    job.refresh_from_db()
    assert job.cancel_requested


def test_only_the_requester_or_a_company_administrator_may_cancel(company, importer, api):
    job = create_job(company, DataJob.Kind.IMPORT, importer)
    other_importer = ApiClient(make_user(company, "manager"))
    response = other_importer.post(f"jobs/{job.pk}/cancel")
    assert response.status_code == 403
    assert response.json()["error"]["message"] == (
        "Only the user who started this job or a Company Administrator can cancel it."
    )
    assert api.post(f"jobs/{job.pk}/cancel").json()["state"] == "cancelled"  # the administrator may


def test_deletions_cannot_be_cancelled(api, company):
    for kind in (DataJob.Kind.CRM_DELETION, DataJob.Kind.COMPANY_DELETION):
        job = create_job(company, kind, company.admin)
        response = api.post(f"jobs/{job.pk}/cancel")
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "not_cancellable"
        job.refresh_from_db()
        assert job.state == "queued" and not job.cancel_requested
        DataJob.objects.filter(pk=job.pk).update(state="succeeded")


def test_a_finished_job_cannot_be_cancelled(api, company):
    job = create_job(company, DataJob.Kind.IMPORT, company.admin)
    DataJob.objects.filter(pk=job.pk).update(state="succeeded")
    response = api.post(f"jobs/{job.pk}/cancel")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "job_finished"
