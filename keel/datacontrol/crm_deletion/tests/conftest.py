"""Fixtures of the CRM deletion tests."""

import pytest

from keel.datacontrol.crm_deletion.tests.factories import allow
from keel.datacontrol.tests.factories import make_crm_data


@pytest.fixture
def acme(company):
    make_crm_data(company)
    allow(company)
    company.admin.role.refresh_from_db()  # the ``admin`` fixture is this same user object
    return company
