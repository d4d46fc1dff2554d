"""The reusable progress component (jobs/progress.html), its endpoint, and cancelling from a page."""

import pytest
from django.template.loader import render_to_string
from django.test import Client, RequestFactory

from keel.jobs.models import DataJob
from keel.jobs.tasks import create_job
from keel.testing import make_user


def logged_in(user):
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def job(company):
    job = create_job(company, DataJob.Kind.IMPORT, company.admin, {"filename": "people.csv"})
    DataJob.objects.filter(pk=job.pk).update(
        state="running", progress_done=30, progress_total=120, step="Importing rows (30 of 120 done)"
    )
    job.refresh_from_db()
    return job


def render_component(job, **extra):
    request = RequestFactory().get("/contacts/import/")
    return render_to_string("jobs/progress.html", {"job": job, **extra}, request=request)


def test_the_component_shows_bar_percent_and_step_and_polls_its_endpoint(job):
    html = render_component(job)
    assert f'data-job-progress="/jobs/{job.pk}/progress/"' in html
    assert 'data-job-state="running"' in html
    assert 'style="width: 25%"' in html and 'aria-valuenow="25"' in html
    assert "25 %" in html and "30 of 120" in html
    assert "Importing rows (30 of 120 done)" in html
    # Without JavaScript, a link refreshes the page.
    assert '<noscript><p><a class="progress-refresh" href="/contacts/import/">' in html
    assert "data-reload-on-finish" not in html
    assert "data-reload-on-finish" in render_component(job, reload=True)


@pytest.mark.parametrize(
    "state,fields,outcome",
    [
        ("succeeded", {"result": {"summary": "Imported 120 rows."}}, "Imported 120 rows."),
        ("succeeded", {}, "Completed."),
        ("failed", {"error": "The file is gone."}, "The file is gone."),
        ("cancelled", {"error": "Cancelled by a user.", "result": {"summary": "It stopped after 30."}}, None),
    ],
)
def test_the_component_shows_the_final_outcome_and_no_refresh_link(job, state, fields, outcome):
    DataJob.objects.filter(pk=job.pk).update(state=state, **fields)
    job.refresh_from_db()
    html = render_component(job)
    assert f'<p class="progress-outcome outcome-{state}">{outcome or "Cancelled. It stopped after 30."}</p>' in html
    assert "progress-refresh" not in html
    if state == "succeeded":
        assert "100 %" in html
    if state == "failed":
        assert 'class="progress job-progress state-failed failed"' in html


def test_the_endpoint_answers_an_html_fragment_or_json(admin, job):
    client = logged_in(admin)
    response = client.get(f"/jobs/{job.pk}/progress/")
    assert response.status_code == 200
    assert response["X-Job-State"] == "running"
    assert response["Cache-Control"] == "no-store"
    html = response.content.decode()
    assert "25 %" in html and "<html" not in html and "noscript" not in html
    data = client.get(f"/jobs/{job.pk}/progress/", HTTP_ACCEPT="application/json").json()
    assert data == {
        "id": job.pk,
        "kind": "import",
        "state": "running",
        "final": False,
        "percent": 25,
        "done": 30,
        "total": 120,
        "step": "Importing rows (30 of 120 done)",
        "outcome": "",
    }
    assert client.get(f"/jobs/{job.pk}/progress/?format=json").json()["percent"] == 25


def test_the_endpoint_works_for_any_kind_of_job(company, admin):
    for kind in (DataJob.Kind.EXPORT, DataJob.Kind.CRM_DELETION):
        job = create_job(company, kind, admin)
        assert logged_in(admin).get(f"/jobs/{job.pk}/progress/").status_code == 200


def test_the_endpoint_is_scoped_to_the_company_and_the_role(job, company, other_company):
    assert logged_in(other_company.admin).get(f"/jobs/{job.pk}/progress/").status_code == 404
    assert logged_in(make_user(company, "member")).get(f"/jobs/{job.pk}/progress/").status_code == 403
    assert logged_in(make_user(company, "manager")).get(f"/jobs/{job.pk}/progress/").status_code == 200
    assert Client().get(f"/jobs/{job.pk}/progress/").status_code == 302  # to the login page


def test_cancelling_from_a_page(job, company, admin):
    manager = logged_in(make_user(company, "manager"))
    assert manager.post(f"/jobs/{job.pk}/cancel/", {"next": "/contacts/import/"}).status_code == 403
    assert logged_in(make_user(company, "member")).post(f"/jobs/{job.pk}/cancel/").status_code == 403
    assert logged_in(other_admin(company)).post(f"/jobs/{job.pk}/cancel/").status_code == 404
    client = logged_in(admin)
    assert client.get(f"/jobs/{job.pk}/cancel/").status_code == 405
    response = client.post(f"/jobs/{job.pk}/cancel/", {"next": f"/contacts/import/{job.pk}/"}, follow=True)
    assert response.redirect_chain[0] == (f"/contacts/import/{job.pk}/", 302)
    job.refresh_from_db()
    assert job.cancel_requested
    # An outside address in "next" is not followed.
    assert client.post(f"/jobs/{job.pk}/cancel/", {"next": "https://evil.test/"})["Location"] == "/"


def other_admin(company):
    from keel.testing import make_company

    return make_company("Initech").admin
