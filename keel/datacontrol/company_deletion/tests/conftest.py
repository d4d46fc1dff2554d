"""Fixtures of the company deletion tests."""

import pytest

from keel.datacontrol.company_deletion.tests.factories import confirm
from keel.testing import fill_every_tenant_table

DELETE = "company/delete"


@pytest.fixture
def filled(company):
    """The company's rows in every tenant table, with its files: what the factory made (users, contacts, secrets)."""
    return fill_every_tenant_table(company)


@pytest.fixture
def started(company, filled, api, django_capture_on_commit_callbacks):
    """A deletion requested through the API by the Company Administrator; the job has not run yet."""
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(DELETE, confirm(company))
    assert response.status_code == 202, response.content
    return response.json()
