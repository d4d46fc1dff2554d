"""Data and inspection helpers shared by the tests of the eraser, CRM deletion and company deletion (no tests here)."""

from django.core.files.base import ContentFile
from django.db import connection
from django.utils import timezone

from keel.accounts.models import User
from keel.audit.actions import record
from keel.contacts.models import (
    Attachment,
    Contact,
    ContactEvent,
    ContactList,
    ContactTag,
    ListMembership,
    Note,
    Tag,
)
from keel.datacontrol import graph
from keel.marketing.models import Campaign, CampaignRecipient, Workflow, WorkflowEnrollment


def make_crm_data(company, contacts=6, events_per_contact=3, files=True):
    """The same CRM (and non-CRM) data for any company: contacts with history, notes, tags, lists, attachments,
    campaign recipients and workflow enrollments, plus the definitions that must survive a CRM deletion."""
    author = User.objects.filter(company=company).order_by("id").first()
    tag = Tag.objects.create(company=company, name="vip")
    contact_list = ContactList.objects.create(company=company, name="Newsletter")
    campaign = Campaign.objects.create(company=company, name="Spring", created_by=author)
    workflow = Workflow.objects.create(company=company, name="Welcome", created_by=author)
    for i in range(contacts):
        contact = Contact.objects.create(company=company, email=f"person{i}@example.com", first_name=f"P{i}")
        ContactEvent.objects.bulk_create(
            ContactEvent(company=company, contact=contact, kind="email_opened", title=f"Opened {j}")
            for j in range(events_per_contact)
        )
        Note.objects.create(company=company, contact=contact, author=author, body=f"note {i}")
        ContactTag.objects.create(company=company, contact=contact, tag=tag)
        ListMembership.objects.create(company=company, contact=contact, contact_list=contact_list)
        CampaignRecipient.objects.create(company=company, contact=contact, campaign=campaign)
        WorkflowEnrollment.objects.create(company=company, contact=contact, workflow=workflow)
        if files and i % 2 == 0:
            attachment = Attachment(company=company, contact=contact, filename=f"cv{i}.txt", uploaded_by=author)
            attachment.file.save(f"cv{i}.txt", ContentFile(f"curriculum {i}".encode()), save=True)
    record(company, author, "test.data_created")


def dump(company, models=None):
    """Every row of the company in ``models`` (default: all tenant tables), exactly as stored."""
    rows = {}
    with connection.cursor() as cursor:
        for model in models or graph.tenant_models():
            table = connection.ops.quote_name(model._meta.db_table)
            cursor.execute(f"SELECT * FROM {table} WHERE company_id = %s ORDER BY id", [company.pk])  # noqa: S608
            rows[graph.label(model)] = cursor.fetchall()
    return rows


def non_crm_models():
    return [m for m in graph.tenant_models() if m not in graph.crm_models()]


def add_bulk_contacts(company, contacts, events_per_contact):
    """Many contacts with history, inserted in bulk: enough rows for a deletion to take a while."""
    now = timezone.now()
    Contact.objects.bulk_create(
        (Contact(company=company, email=f"bulk{i}@example.com", created_at=now) for i in range(contacts)),
        batch_size=1000,
    )
    ids = list(Contact.objects.filter(company=company, email__startswith="bulk").values_list("id", flat=True))
    ContactEvent.objects.bulk_create(
        (
            ContactEvent(company=company, contact_id=cid, kind="note", title=f"e{j}")
            for cid in ids
            for j in range(events_per_contact)
        ),
        batch_size=2000,
    )
