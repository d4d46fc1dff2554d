from io import StringIO

from django.core.management import call_command

from keel.accounts.models import Company, User
from keel.contacts.models import Contact, ContactEvent, ContactList, ContactTag, ListMembership, Note
from keel.integrations import crypto
from keel.integrations.models import IntegrationConnection
from keel.marketing.models import Campaign, CampaignRecipient, Workflow, WorkflowEnrollment
from keel.testing import ensure_plans


def run_demo(*args):
    out = StringIO()
    call_command("demo", *args, stdout=out)
    return out.getvalue()


def counts():
    return {
        model.__name__: model.objects.count()
        for model in (
            Company,
            User,
            Contact,
            ContactEvent,
            Note,
            ContactTag,
            ContactList,
            ListMembership,
            Campaign,
            CampaignRecipient,
            Workflow,
            WorkflowEnrollment,
            IntegrationConnection,
        )
    }


def test_demo_creates_acme_and_a_second_run_reuses_it(db):
    ensure_plans()
    first = run_demo("--contacts", "50")
    assert "http://127.0.0.1:8000/" in first
    assert "admin@acme.example" in first and "keel-demo-admin" in first

    company = Company.objects.get(name="Acme")
    assert company.plan_id == "standard"
    admin = User.objects.get(email="admin@acme.example")
    assert admin.company == company and admin.is_company_admin and admin.check_password("keel-demo-admin")
    member = User.objects.get(email="member@acme.example")
    assert member.role.name == "Member" and member.check_password("keel-demo-admin")

    contacts = Contact.objects.filter(company=company)
    assert contacts.count() == 50
    assert all(c.email and c.first_name and c.last_name and c.custom_fields.get("city") for c in contacts)
    for contact in contacts:
        events = ContactEvent.objects.filter(contact=contact).exclude(kind__startswith="campaign_")
        assert 3 <= events.exclude(kind="workflow_enrolled").count() <= 8
    assert ContactList.objects.filter(company=company).count() == 2
    assert Note.objects.filter(company=company).exists() and ContactTag.objects.filter(company=company).exists()

    sent = Campaign.objects.get(company=company, status="sent")
    assert sent.recipients.exists() and not sent.recipients.filter(status="pending").exists()
    assert ContactEvent.objects.filter(kind="campaign_sent").count() == sent.recipients.count()
    assert Campaign.objects.filter(company=company).count() == 2
    workflow = Workflow.objects.get(company=company)
    assert workflow.enrollments.exists()
    connection = IntegrationConnection.objects.get(company=company)
    assert connection.provider == "Mailchimp"
    assert crypto.decrypt(connection.encrypted_access_token).startswith("demo-")

    before = counts()
    second = run_demo("--contacts", "50")
    assert counts() == before
    assert first.splitlines()[-4:] == second.splitlines()[-4:]  # the same URL and login


def test_demo_tops_up_to_more_contacts_without_duplicates(db):
    ensure_plans()
    run_demo("--contacts", "20")
    run_demo("--contacts", "45")
    emails = list(Contact.objects.values_list("email", flat=True))
    assert len(emails) == 45 == len(set(emails))
    assert Company.objects.count() == 1
