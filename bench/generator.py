"""The benchmark data set: one large company and a few companies a tenth of its size, built with bulk inserts.

Companies, roles and administrators are created through Keel's own action (``do_create_company``); everything
else (contacts, history, notes, tags, lists, campaigns, workflows and their members) is written in big raw
batches with ids assigned here, so that a million contacts and five million history events take minutes, not
hours. Values are realistic (names, e-mail addresses, phone numbers, JSON custom fields, non-Latin text) and
reproducible: the same seed gives the same data.
"""

import json
import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection

from bench import db
from keel.accounts.actions import do_create_company
from keel.accounts.models import Company, Role
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
from keel.integrations.crypto import encrypt
from keel.integrations.models import IntegrationConnection
from keel.marketing.models import Campaign, CampaignRecipient, Workflow, WorkflowEnrollment

SLUG_PREFIX = "bench-"
PASSWORD = "bench password 1"  # the administrators' password, used to confirm company deletion like a person would

FIRST_NAMES = (
    "James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara Richard Susan Joseph "
    "Jessica Thomas Sarah Charles Karen Daniel Lisa Matthew Nancy Anthony Betty Mark Sandra Donald Ashley Steven "
    "Emily Paul Michelle Andrew Amanda Joshua Melissa Kenneth Deborah Kevin Stephanie Brian Rebecca George Laura "
    "Timothy Helen Ronald Sharon Jason Cynthia Edward Kathleen Jeffrey Amy Ryan Angela Jacob Anna Nicolas Sofia "
    "Lukas Emma Mateo Lea Hugo Chloe Louis Ines Noah Mia Elias Lina Finn Clara Jonas Zoe Aarav Ananya Vivaan Diya"
).split() + ["José", "Zoë", "Björn", "Ærin", "Łukasz", "Søren", "Chloé", "Núria", "Renée", "Sebastián"]
LAST_NAMES = (
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez Wilson "
    "Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark Ramirez Lewis "
    "Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera "
    "Campbell Mitchell Carter Roberts Schmidt Schneider Fischer Weber Meyer Wagner Becker Dubois Moreau Laurent "
    "Rossi Russo Ferrari Esposito Bianchi Romano Kowalski Nowak Novak Horvat Jensen Hansen Larsen Virtanen Sato"
).split() + ["Müller", "O'Brien", "Núñez", "Åström", "Żółć", "D'Angelo", "李", "山田", "Иванов", "Παπαδόπουλος"]
DOMAINS = (
    "example.com example.org example.net mail.test inbox.test acme.test globex.test initech.test umbrella.test "
    "hooli.test piedpiper.test stark.test wayne.test wonka.test"
).split()
ORGANISATIONS = (
    "Acme Corp|Globex|Initech|Umbrella|Hooli|Pied Piper|Stark Industries|Wayne Enterprises|Wonka Industries|"
    "Soylent, Inc.|Cyberdyne Systems|Tyrell Corporation|Massive Dynamic|Vandelay Industries|Dunder Mifflin|"
    "Bluth Company|Prestige Worldwide|Gringotts|Ollivanders|Nakatomi Trading|Oceanic Airlines|北京科技|Société Générale"
).split("|")
JOB_TITLES = (
    "CEO|CTO|Head of Sales|Account Executive|Marketing Manager|Software Engineer|Office Manager|Buyer|"
    "Procurement Lead|Founder|VP Engineering|Customer Success Manager|Data Analyst|Designer|Consultant"
).split("|")
STAGES = [s.value for s in Contact.Stage]
STAGE_WEIGHTS = [40, 25, 12, 8, 10, 3, 2]
SOURCES = ["website", "webinar", "referral", "trade show", "import", "api", "partner"]
PLANS = ["free", "starter", "growth", "enterprise"]
EVENT_KINDS = (
    ("email_sent", "Email sent: {}"),
    ("email_opened", "Opened email: {}"),
    ("email_clicked", "Clicked a link in: {}"),
    ("page_view", "Visited {}"),
    ("form_submitted", "Submitted the form “{}”"),
    ("call", "Call about {}"),
    ("meeting", "Meeting: {}"),
    ("stage_changed", "Lifecycle stage changed to {}"),
)
SUBJECTS = [
    "Spring newsletter",
    "Product update",
    "Your trial ends soon",
    "Webinar invitation",
    "Pricing, plans & discounts",
    "Welcome to the team",
    'Re: "quote" for Q3',
    "Événement à Paris",
    "新产品发布",
    "🚀 Launch day",
]
PAGES = ["/pricing", "/features", "/blog/crm-tips", "/contact", "/docs/import", "/careers", "/about"]
NOTE_BODIES = [
    "Called, left a voicemail.",
    "Interested in the enterprise plan; send a quote by Friday.",
    'Asked about "data export", see the help-centre article.',
    "Met at the trade show, booth 42.\nFollow up in two weeks.",
    "Prefers e-mail, no calls before 10:00.",
    "Renewal due next quarter; budget approved, waiting for legal.",
    "Spricht Deutsch und Englisch.",
    "Déjà client chez un concurrent, à recontacter en janvier.",
]
TAG_NAMES = "vip newsletter partner churn-risk trial beta-tester decision-maker influencer press investor".split()
LIST_NAMES = ["Newsletter", "Customers", "Leads 2025", "Webinar attendees", "Trade show", "Do not call"]

EPOCH = datetime(2023, 1, 1, tzinfo=UTC)
SPAN_SECONDS = 3 * 365 * 24 * 3600
TIME_POOL_SIZE = 50_000
CHUNK_CONTACTS = 50_000  # contacts generated (with their children) per transaction


@dataclass
class Shape:
    """How many children each contact has on average (besides ``events_per_contact`` history events)."""

    notes: float = 0.1
    tags: float = 0.5
    memberships: float = 0.3
    recipients: float = 0.5
    enrollments: float = 0.2
    attachments: int = 10  # real small files in storage, for the whole company


@dataclass
class Generated:
    company_id: int
    slug: str
    contacts: int
    seconds: float
    rows: dict = field(default_factory=dict)

    @property
    def total_rows(self):
        return sum(self.rows.values())


class Values:
    """Adapts values to what the raw connection expects (text timestamps, JSON as text)."""

    def __init__(self, rng):
        self.rng = rng
        self.postgres = db.vendor() == "postgresql"
        moments = sorted(EPOCH + timedelta(seconds=rng.randrange(SPAN_SECONDS)) for _ in range(TIME_POOL_SIZE))
        self.times = [self.timestamp(m) for m in moments]

    def timestamp(self, moment):
        return db_timestamp(moment)

    def now(self):
        return self.timestamp(datetime.now(UTC).replace(microsecond=0))

    def some_times(self, n):
        return self.rng.choices(self.times, k=n)


# The columns of a contact row, in the order the generator and the import baseline write them.
CONTACT_COLUMNS = [
    "id",
    "company_id",
    "email",
    "first_name",
    "last_name",
    "phone",
    "company_name",
    "job_title",
    "lifecycle_stage",
    "custom_fields",
    "created_at",
    "updated_at",
]


def db_timestamp(moment):
    """An aware UTC datetime as the raw connection takes it."""
    if db.vendor() == "postgresql":
        return moment.isoformat()
    return moment.replace(tzinfo=None).isoformat(" ")  # how Django stores an aware UTC datetime in SQLite


@cache
def ascii_part(name):
    table = str.maketrans("éëöøæłñüåżółćçíúèàáäß", "eeooalnuazolcciueaaas")
    cleaned = "".join(c for c in name.lower().translate(table) if c.isascii() and c.isalnum())
    return cleaned or "contact"


def company_name(size, index):
    return f"Bench {'Large' if index == 0 else 'Tenant ' + str(index)} {size}"


def create_company(name, admin_email):
    """A company with its roles and administrator, through Keel's own action (as a sign-up would)."""
    company, admin = do_create_company(name, admin_email, PASSWORD, plan="enterprise")
    Company.objects.filter(pk=company.pk).update(slug=SLUG_PREFIX + company.slug)
    company.refresh_from_db()
    # The benchmark deletes all CRM records, so the administrator's role gets that opt-in permission.
    role = Role.objects.get(company=company, kind="admin")
    role.permissions = sorted(set(role.permissions) | {"delete_all_crm_records"})
    role.save(update_fields=["permissions"])
    return company, admin


def generate_company(name, contacts, events_per_contact, seed, shape=None, progress=None):
    """Create one company with ``contacts`` contacts and everything around them. Returns a ``Generated``."""
    started = time.perf_counter()
    shape = shape or Shape()
    rng = random.Random(seed)
    values = Values(rng)
    company, admin = create_company(name, f"admin@{ascii_part(name)}{seed}.bench.test")
    cid = company.pk
    rows = {}

    with db.write_transaction(trusted=True):
        tags = insert_simple(Tag, cid, [{"name": n} for n in TAG_NAMES])
        lists = insert_simple(
            ContactList,
            cid,
            [{"name": n, "description": f"{n} (bench)", "created_at": values.now()} for n in LIST_NAMES],
        )
        campaigns = insert_simple(
            Campaign,
            cid,
            [
                {
                    "name": subject,
                    "subject": subject,
                    "body": f"Hello,\n\n{subject}.\n\nThe team",
                    "status": Campaign.Status.SENT,
                    "created_by_id": admin.pk,
                    "created_at": values.now(),
                    "started_at": values.now(),
                    "finished_at": values.now(),
                }
                for subject in SUBJECTS[:6]
            ],
        )
        workflows = insert_simple(
            Workflow,
            cid,
            [
                {"name": f"Nurture {n}", "trigger": "form submitted", "status": Workflow.Status.INACTIVE}
                | {"created_by_id": admin.pk, "created_at": values.now()}
                for n in ("leads", "trials", "customers")
            ],
        )
        insert_simple(
            IntegrationConnection,
            cid,
            [
                {
                    "provider": "Mailchimp",
                    "encrypted_access_token": encrypt(f"bench-token-{seed}"),
                    "revoke_url": "",
                    "connected_by_id": admin.pk,
                    "created_at": values.now(),
                }
            ],
        )
    rows.update({"contacts.Tag": len(tags), "contacts.ContactList": len(lists)})
    rows.update({"marketing.Campaign": len(campaigns), "marketing.Workflow": len(workflows)})

    ids = {model: db.next_id(model) for model in CHILD_MODELS}
    made = 0
    while made < contacts:
        chunk = min(CHUNK_CONTACTS, contacts - made)
        with db.write_transaction(trusted=True):
            counts = insert_contact_chunk(
                cid, ids, made, chunk, events_per_contact, shape, rng, values, tags, lists, campaigns, workflows
            )
        for key, n in counts.items():
            rows[key] = rows.get(key, 0) + n
        made += chunk
        if progress:
            progress(made, contacts)
    rows["contacts.Attachment"] = add_attachments(
        cid, ids[Contact] - contacts, contacts, shape.attachments, admin, values
    )
    db.reset_sequences([Tag, ContactList, Campaign, Workflow, IntegrationConnection, Attachment, *CHILD_MODELS])
    return Generated(
        company_id=cid, slug=company.slug, contacts=contacts, seconds=time.perf_counter() - started, rows=rows
    )


CHILD_MODELS = (Contact, ContactEvent, Note, ContactTag, ListMembership, CampaignRecipient, WorkflowEnrollment)


def insert_simple(model, company_id, dicts):
    """A handful of parent rows (tags, lists, campaigns...): returns their ids."""
    first = db.next_id(model)
    fields = ["id", "company_id", *dicts[0].keys()]
    rows = [(first + i, company_id, *d.values()) for i, d in enumerate(dicts)]
    db.bulk_insert(model, fields, rows)
    return [r[0] for r in rows]


def sample_members(rng, contact_ids, per_contact):
    """About ``per_contact`` × len(contact_ids) distinct contacts, picked at random."""
    k = min(len(contact_ids), round(len(contact_ids) * per_contact))
    return rng.sample(contact_ids, k)


def insert_contact_chunk(cid, ids, offset, n, k, shape, rng, values, tags, lists, campaigns, workflows):
    counts = {}
    first_contact = ids[Contact]
    contact_ids = list(range(first_contact, first_contact + n))
    ids[Contact] += n
    firsts = rng.choices(FIRST_NAMES, k=n)
    lasts = rng.choices(LAST_NAMES, k=n)
    stages = rng.choices(STAGES, weights=STAGE_WEIGHTS, k=n)
    created = values.some_times(n)
    contact_rows = []
    for i, contact_id in enumerate(contact_ids):
        first, last = firsts[i], lasts[i]
        number = offset + i
        custom = {
            "plan": rng.choice(PLANS),
            "score": rng.randrange(100),
            "source": rng.choice(SOURCES),
            "newsletter": rng.random() < 0.6,
        }
        if number % 7 == 0:
            custom["notes"] = "Met at “Expo 2025”, Berlin; likes ☕"
        contact_rows.append(
            (
                contact_id,
                cid,
                f"{ascii_part(first)}.{ascii_part(last)}.{number}@{DOMAINS[number % len(DOMAINS)]}",
                first,
                last,
                f"+1 555 {number % 1000:03d} {number % 10000:04d}",
                ORGANISATIONS[number % len(ORGANISATIONS)],
                JOB_TITLES[number % len(JOB_TITLES)],
                stages[i],
                json.dumps(custom, ensure_ascii=False),
                created[i],
                created[i],
            )
        )
    db.bulk_insert(Contact, CONTACT_COLUMNS, contact_rows)
    counts["contacts.Contact"] = n
    del contact_rows

    counts["contacts.ContactEvent"] = insert_events(cid, ids, contact_ids, k, rng, values)
    counts["contacts.Note"] = insert_children(
        Note,
        ids,
        ["contact_id", "body", "created_at"],
        [
            (c, NOTE_BODIES[c % len(NOTE_BODIES)], values.times[c % TIME_POOL_SIZE])
            for c in sample_members(rng, contact_ids, shape.notes)
        ],
        cid,
    )
    counts["contacts.ContactTag"] = insert_children(
        ContactTag,
        ids,
        ["contact_id", "tag_id"],
        [(c, tags[c % len(tags)]) for c in sample_members(rng, contact_ids, shape.tags)],
        cid,
    )
    counts["contacts.ListMembership"] = insert_children(
        ListMembership,
        ids,
        ["contact_id", "contact_list_id", "added_at"],
        [
            (c, lists[c % len(lists)], values.times[c % TIME_POOL_SIZE])
            for c in sample_members(rng, contact_ids, shape.memberships)
        ],
        cid,
    )
    recipient_rows = []
    for c in sample_members(rng, contact_ids, shape.recipients):
        sent = values.times[c % TIME_POOL_SIZE]
        opened = sent if c % 3 == 0 else None
        status = "opened" if opened else "sent"
        recipient_rows.append((c, campaigns[c % len(campaigns)], status, sent, opened, None))
    counts["marketing.CampaignRecipient"] = insert_children(
        CampaignRecipient,
        ids,
        ["contact_id", "campaign_id", "status", "sent_at", "opened_at", "clicked_at"],
        recipient_rows,
        cid,
    )
    counts["marketing.WorkflowEnrollment"] = insert_children(
        WorkflowEnrollment,
        ids,
        ["contact_id", "workflow_id", "state", "enrolled_at"],
        [
            (c, workflows[c % len(workflows)], "completed", values.times[c % TIME_POOL_SIZE])
            for c in sample_members(rng, contact_ids, shape.enrollments)
        ],
        cid,
    )
    return counts


def insert_events(cid, ids, contact_ids, k, rng, values):
    """``k`` history events per contact on average (0..2k), with kind-specific titles and JSON data."""
    total = 0
    batch = []
    first = ids[ContactEvent]
    kinds = EVENT_KINDS
    for contact_id in contact_ids:
        count = rng.randint(0, 2 * k) if k else 0
        if not count:
            continue
        picks = rng.choices(range(len(kinds)), k=count)
        times = values.some_times(count)
        for j in range(count):
            kind, template = kinds[picks[j]]
            subject = SUBJECTS[(contact_id + j) % len(SUBJECTS)]
            if kind == "page_view":
                subject = PAGES[(contact_id + j) % len(PAGES)]
                data = f'{{"url": "https://www.example.com{subject}", "seconds": {(contact_id * 7 + j) % 300}}}'
            elif kind == "stage_changed":
                subject = STAGES[(contact_id + j) % len(STAGES)]
                data = f'{{"to": "{subject}"}}'
            else:
                data = f'{{"campaign": {(contact_id + j) % 6 + 1}, "channel": "email"}}'
            batch.append((first + total, cid, contact_id, kind, template.format(subject), data, times[j]))
            total += 1
    db.bulk_insert(ContactEvent, ["id", "company_id", "contact_id", "kind", "title", "data", "occurred_at"], batch)
    ids[ContactEvent] += total
    return total


def insert_children(model, ids, fields, rows, cid):
    first = ids[model]
    full = [(first + i, cid, *row) for i, row in enumerate(rows)]
    if full:
        db.bulk_insert(model, ["id", "company_id", *fields], full)
    ids[model] += len(full)
    return len(full)


def add_attachments(cid, first_contact, contacts, how_many, admin, values):
    """A few real small files in storage, under the company's prefix, as uploads would leave them."""
    how_many = min(how_many, contacts)
    if not how_many:
        return 0
    step = max(1, contacts // how_many)
    rows = []
    first = db.next_id(Attachment)
    for i in range(how_many):
        contact_id = first_contact + i * step
        body = f"Signed offer for contact {contact_id}\n".encode() * 40
        name = default_storage.save(f"companies/{cid}/attachments/bench/offer-{contact_id}.txt", ContentFile(body))
        filename = f"offer-{contact_id}.txt"
        rows.append((first + i, cid, contact_id, name, filename, "text/plain", len(body), admin.pk, values.now()))
    fields = ["id", "company_id", "contact_id", "file", "filename", "content_type", "size", "uploaded_by_id"]
    with db.write_transaction(trusted=True):
        db.bulk_insert(Attachment, [*fields, "created_at"], rows)
    return len(rows)


def analyze():
    """Fresh planner statistics after a bulk load, as autovacuum would eventually gather on PostgreSQL."""
    if db.vendor() == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")


def bench_companies():
    return Company.objects.filter(slug__startswith=SLUG_PREFIX)


def foreign_companies():
    """Companies the benchmark did not create: their presence means this is not a benchmark database."""
    return Company.objects.exclude(slug__startswith=SLUG_PREFIX)


def wipe_bench_companies():
    """Remove every company the benchmark created (raw deletes, children first), and their files."""
    import shutil

    for company_id in bench_companies().values_list("pk", flat=True):
        db.delete_company_rows(company_id, graph.tenant_models(), include_company=True, trusted=True)
        try:
            shutil.rmtree(default_storage.path(f"companies/{company_id}"), ignore_errors=True)
        except NotImplementedError:  # storage without local paths
            pass
