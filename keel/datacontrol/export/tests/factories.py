"""Data and reading helpers shared by the export tests (this module holds no tests)."""

import csv
import io
from datetime import UTC, datetime, timedelta

from django.core.files.base import ContentFile

from keel.accounts.models import ApiToken, Notice, UserSession
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
from keel.integrations import crypto
from keel.integrations.models import IntegrationConnection
from keel.marketing.models import Campaign, CampaignRecipient, Workflow, WorkflowEnrollment
from keel.testing import make_user

INTEGRATION_PLAINTEXT = "plaintext-provider-token-0123456789"
TRICKY_TEXTS = [
    'Say "hello", then leave',
    "line one\nline two\r\nline three",
    "Ελληνικά, 中文, العربية, русский",
    "emoji 🚀🎉 and ZWJ 👩‍👩‍👧",
    "",
    "=1+1 stays text",
    "  leading and trailing spaces  ",
]


def populate(company):
    """A company with a row of every entity, full of values CSV and encodings like to break on.

    Long because it is one list of rows, one per entity: splitting it would only scatter that list."""
    admin = company.admin
    member = make_user(company, "member", name='Zoë "Z" O\'Brien, Jr.')
    when = datetime(2026, 3, 4, 5, 6, 7, 123456, tzinfo=UTC)
    contacts = []
    for i, text in enumerate(TRICKY_TEXTS):
        contacts.append(
            Contact.objects.create(
                company=company,
                email=f"person{i}@example.com" if text else "",
                first_name=text,
                last_name=text[::-1],
                phone="+49 (0) 30, ext. 7" if i % 2 else "",
                company_name=text,
                job_title="",
                lifecycle_stage=Contact.Stage.LEAD if i % 2 else Contact.Stage.CUSTOMER,
                custom_fields={"note": text, "nested": {"list": [1, 2.5, None, True], "emoji": "🚀"}} if i else {},
                created_at=when + timedelta(days=i),
                updated_at=when + timedelta(days=i, seconds=1),
            )
        )
        for k in range(2):
            ContactEvent.objects.create(
                company=company,
                contact=contacts[-1],
                kind="email_opened" if k else "imported",
                title=f"{text} #{k}",
                data={"text": text, "k": k},
                occurred_at=when + timedelta(hours=k),
            )
    Note.objects.create(company=company, contact=contacts[0], author=member, body='multi\nline, "quoted" note 📝')
    Note.objects.create(company=company, contact=contacts[1], author=None, body="")
    tag = Tag.objects.create(company=company, name='VIP, "gold"')
    ContactTag.objects.create(company=company, contact=contacts[0], tag=tag)
    contact_list = ContactList.objects.create(company=company, name="Newsletter 📰", description="")
    ListMembership.objects.create(company=company, contact_list=contact_list, contact=contacts[2])
    Attachment.objects.create(
        company=company,
        contact=contacts[0],
        file=ContentFile(b"%PDF-1.4 binary \x00\xff\xfe bytes", name="contract.pdf"),
        filename='contract, final "v2".pdf',
        content_type="application/pdf",
        size=29,
        uploaded_by=admin,
    )
    campaign = Campaign.objects.create(
        company=company, name='Spring, "big" sale', subject="Ünïcödé", body="Hi\n\nBye", created_by=admin
    )
    CampaignRecipient.objects.create(
        company=company, campaign=campaign, contact=contacts[0], status="sent", sent_at=when
    )
    workflow = Workflow.objects.create(company=company, name="Welcome 👋", trigger="list:newsletter")
    WorkflowEnrollment.objects.create(company=company, workflow=workflow, contact=contacts[1])
    token, raw_token = ApiToken.issue(admin, 'CI token, "main"')
    Notice.objects.create(company=company, user=admin, message="Export ready ✅", link="/settings/data/export/")
    UserSession.objects.create(
        company=company, user=admin, session_key=f"key-{company.pk}", user_agent="Firefox", ip_address="192.0.2.1"
    )
    IntegrationConnection.objects.create(
        company=company,
        provider="Mailer, Inc.",
        encrypted_access_token=crypto.encrypt(INTEGRATION_PLAINTEXT),
        revoke_url="https://example.com/revoke",
        connected_by=admin,
    )
    record(company, admin, "contact.updated", contacts[0], fields=["first_name"], text='日本語 "q"')
    return {"raw_token": raw_token, "contacts": contacts, "member": member}


def read_csv(archive, path):
    with archive.open(path) as raw:
        return list(csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8", newline="")))
