"""Fixtures of the CRM tests: contacts of two companies, a role without write permissions, a CRM lock."""

import pytest
from django.test import Client

from keel.accounts.models import Role
from keel.contacts.models import Contact
from keel.jobs.models import DataJob
from keel.testing import ApiClient, make_user


def revoke(company, permission, role_kind):
    role = Role.objects.get(company=company, kind=role_kind)
    role.permissions = [code for code in role.permissions if code != permission]
    role.save()
    return role


def make_contact(company, email, first_name="", last_name="", **fields):
    return Contact.objects.create(company=company, email=email, first_name=first_name, last_name=last_name, **fields)


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
    """A CRM deletion in progress for the company: a real job row in the running state."""
    return DataJob.objects.create(
        company=company, kind=DataJob.Kind.CRM_DELETION, state=DataJob.State.RUNNING, requested_by=admin
    )
