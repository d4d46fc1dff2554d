"""Fixtures of the company deletion tests."""

import pytest

from keel.datacontrol.company_deletion.tests.factories import confirm, make_company_data

DELETE = "company/delete"


@pytest.fixture
def started(company, api, django_capture_on_commit_callbacks):
    """A deletion requested through the API by the Company Administrator; the job has not run yet."""
    make_company_data(company)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(DELETE, confirm(company))
    assert response.status_code == 202, response.content
    return response.json()
