"""Fixtures of the marketing tests: contacts, campaigns and workflows of two companies."""

import pytest
from django.test import Client

from keel.contacts.tests.factories import make_contact, start_crm_deletion
from keel.marketing.models import Campaign, Workflow


@pytest.fixture
def contacts(company):
    return [make_contact(company, f"reader{i}@example.com", f"Reader{i}", "Smith") for i in range(3)]


@pytest.fixture
def foreign_contact(other_company):
    return make_contact(other_company, "hidden@globex.example", "Hank", "Scorpio")


@pytest.fixture
def campaign(company, admin):
    return Campaign.objects.create(company=company, name="Spring launch", subject="New!", created_by=admin)


@pytest.fixture
def foreign_campaign(other_company):
    return Campaign.objects.create(company=other_company, name="Their launch")


@pytest.fixture
def workflow(company, admin):
    return Workflow.objects.create(company=company, name="Onboarding", trigger="Signed up", created_by=admin)


@pytest.fixture
def foreign_workflow(other_company):
    return Workflow.objects.create(company=other_company, name="Their onboarding")


@pytest.fixture
def member_client(member):
    """A Member: may read campaigns and workflows; "Manage campaigns and workflows" is not theirs by default."""
    client = Client()
    client.force_login(member)
    return client


@pytest.fixture
def crm_locked(company, admin):
    return start_crm_deletion(company, admin)
