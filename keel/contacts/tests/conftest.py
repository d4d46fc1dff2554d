"""Fixtures of the CRM tests: contacts of two companies, a role without write permissions, a CRM lock."""

import pytest
from django.test import Client

from keel.contacts.tests.factories import make_contact, revoke, start_crm_deletion
from keel.testing import ApiClient, make_user


@pytest.fixture
def contact(company):
    return make_contact(company, "ada@example.com", "Ada", "Lovelace", company_name="Analytical Engines")


@pytest.fixture
def foreign_contact(other_company):
    return make_contact(other_company, "hidden@globex.example", "Hank", "Scorpio")


@pytest.fixture
def reader(company):
    """A Member whose role lost "Manage contacts": may read the CRM, may not change it."""
    revoke(company, "manage_contacts", "member")
    return make_user(company, "member")


@pytest.fixture
def reader_api(reader):
    return ApiClient(reader)


@pytest.fixture
def reader_client(reader):
    client = Client()
    client.force_login(reader)
    return client


@pytest.fixture
def crm_locked(company, admin):
    return start_crm_deletion(company, admin)
