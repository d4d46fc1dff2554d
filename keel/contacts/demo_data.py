"""Realistic, deterministic demo contacts and their history, written with bulk inserts in short batches.

Contact number ``i`` is always generated from the same seed, so a second run (or a top-up to more contacts)
produces the same people and never duplicates an e-mail address.
"""

import random
import unicodedata
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from keel.contacts import history
from keel.contacts.models import Contact, ContactList, ContactTag, ListMembership, Note, Tag

FIRST_NAMES = (
    "Maria James Sofia Liam Emma Noah Olivia Lucas Ava Mateo Mia Elijah Amelia Oliver Harper Ethan Isabella "
    "Benjamin Chloé Henri Zoë José Aiko Kenji Priya Arjun Fatima Omar Leila Yusuf Ingrid Øyvind Björn Astrid "
    "Nadia Dmitri Katarzyna Piotr Chiara Marco Giulia Léa Hugo Camille Thomas Hannah Felix Greta Jonas Sara "
    "Daniel Grace Samuel Ruth David Naomi Wei Mei Hiroshi Yuki Ana Pedro Lucía Diego Aisha Kwame Ngozi Thabo"
).split()
LAST_NAMES = (
    "García Smith Johnson Müller Rossi Dubois Kowalski Nguyen Kim Tanaka Patel Sharma Silva Santos Hansen "
    "Johansson Andersen Novak Horvat Papadopoulos Cohen Levi O'Brien Murphy Walsh Fischer Weber Schneider "
    "Martin Bernard Moreau Laurent Bianchi Romano Esposito Fernández López Martínez González Rodríguez Pérez "
    "Wilson Taylor Brown Davies Evans Thomas Roberts Clarke Wright Okafor Mensah Mbeki Haddad Khalil Yilmaz "
    "Demir Ivanova Petrov Sokolov Chen Wang Li Zhang Liu Sato Suzuki Takahashi Ito Park Choi Lee"
).split()
COMPANIES = (
    ("Northwind Traders", "northwind.example"),
    ("Contoso", "contoso.example"),
    ("Fabrikam", "fabrikam.example"),
    ("Globex Logistics", "globex-logistics.example"),
    ("Initech", "initech.example"),
    ("Umbrella Health", "umbrella-health.example"),
    ("Stark Components", "stark-components.example"),
    ("Wayne Foods", "waynefoods.example"),
    ("Tyrell Robotics", "tyrell.example"),
    ("Soylent Nutrition", "soylent.example"),
    ("Vandelay Industries", "vandelay.example"),
    ("Hooli", "hooli.example"),
    ("Pied Piper", "piedpiper.example"),
    ("Cyberdyne Systems", "cyberdyne.example"),
    ("Blue Sun", "bluesun.example"),
    ("Monarch Travel", "monarch-travel.example"),
    ("Oceanic Airlines", "oceanic.example"),
    ("Aperture Labs", "aperture.example"),
    ("Black Mesa Research", "blackmesa.example"),
    ("Gringotts Finance", "gringotts.example"),
    ("Wonka Confectionery", "wonka.example"),
    ("Dunder Mifflin Paper", "dundermifflin.example"),
    ("Prestige Worldwide", "prestige-worldwide.example"),
    ("Massive Dynamic", "massivedynamic.example"),
)
FREEMAIL = ("mail.example", "inbox.example", "post.example")
JOB_TITLES = (
    "Marketing Manager",
    "Head of Sales",
    "CEO",
    "CTO",
    "Operations Director",
    "Procurement Lead",
    "Product Manager",
    "Office Manager",
    "Account Executive",
    "Software Engineer",
    "Finance Controller",
    "HR Business Partner",
    "Customer Success Manager",
    "Founder",
    "",
)
CITIES = (
    "Berlin",
    "Lisbon",
    "Madrid",
    "Paris",
    "London",
    "Dublin",
    "Oslo",
    "Warsaw",
    "Milan",
    "Toronto",
    "Austin",
    "São Paulo",
    "Tokyo",
    "Seoul",
    "Nairobi",
    "Lagos",
    "Sydney",
    "Mumbai",
    "Cape Town",
    "Boston",
)
INDUSTRIES = ("Retail", "Manufacturing", "Healthcare", "Software", "Logistics", "Finance", "Education", "Food")
SOURCES = ("Website form", "Trade fair", "Referral", "Webinar", "Cold call", "LinkedIn", "Partner")
STAGES = (
    (Contact.Stage.SUBSCRIBER, 30),
    (Contact.Stage.LEAD, 30),
    (Contact.Stage.QUALIFIED, 15),
    (Contact.Stage.OPPORTUNITY, 10),
    (Contact.Stage.CUSTOMER, 12),
    (Contact.Stage.EVANGELIST, 3),
)
TAG_NAMES = ("VIP", "Newsletter", "Partner", "Decision maker", "Churn risk", "Event 2025")
LIST_NAMES = (
    ("Newsletter subscribers", "Contacts who receive the monthly newsletter"),
    ("Trade fair 2025 leads", "Leads met at the 2025 trade fair"),
)
HISTORY = (
    ("email_opened", "Opened the newsletter “{month} product update”"),
    ("email_clicked", "Clicked “See pricing” in the newsletter"),
    ("page_viewed", "Viewed the pricing page"),
    ("page_viewed", "Viewed the case study “{company} cut costs by 30%”"),
    ("form_submitted", "Submitted the contact form"),
    ("form_submitted", "Downloaded the whitepaper “CRM data ownership”"),
    ("call", "Call with {first}: discussed requirements"),
    ("meeting", "Demo meeting with {first} and the team"),
    ("deal_stage_changed", "Deal moved to “Proposal sent”"),
    ("webinar_attended", "Attended the webinar “Getting started with Keel”"),
)
NOTES = (
    "Prefers e-mail over phone. Best reached in the morning.",
    "Budget approved for Q3; follow up after the board meeting.",
    "Met at the trade fair booth. Interested in the enterprise plan.",
    "Asked for a reference customer in the same industry.",
    "Evaluating two other vendors; decision expected next month.",
)
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "September", "October", "November")
HISTORY_SPAN_DAYS = 720


def ascii_slug(text):
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in plain.lower() if ch.isalnum())


def _weighted_stage(rng):
    return rng.choices([stage for stage, _ in STAGES], weights=[weight for _, weight in STAGES])[0]


def _email(rng, first, last, domain, taken, number):
    local = rng.choice((f"{first}.{last}", f"{first[0]}{last}", f"{first}{last[0]}", f"{first}_{last}"))
    email = f"{local}@{domain}"
    if email in taken:
        email = f"{local}{number}@{domain}"
    taken.add(email)
    return email


def _phone(rng):
    return (
        f"+{rng.choice((1, 33, 44, 49, 351))} {rng.randint(200, 999)} {rng.randint(100, 999)} {rng.randint(1000, 9999)}"
    )


def demo_person(number, taken, now):
    """Contact number ``number``: its fields and a generator of its history, all from one seed."""
    rng = random.Random(number * 7919 + 17)
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    company_name, domain = rng.choice(COMPANIES)
    if rng.random() < 0.15:
        company_name, domain = "", rng.choice(FREEMAIL)
    created_at = now - timedelta(days=rng.uniform(30, HISTORY_SPAN_DAYS))
    contact = Contact(
        email=_email(rng, ascii_slug(first), ascii_slug(last), domain, taken, number),
        first_name=first,
        last_name=last,
        phone=_phone(rng),
        company_name=company_name,
        job_title=rng.choice(JOB_TITLES),
        lifecycle_stage=_weighted_stage(rng),
        custom_fields={
            "city": rng.choice(CITIES),
            "industry": rng.choice(INDUSTRIES),
            "lead_source": rng.choice(SOURCES),
            "employees": rng.choice((5, 12, 40, 120, 450, 2000, 12000)),
            "newsletter_opt_in": rng.random() < 0.6,
        },
        created_at=created_at,
        updated_at=created_at,
    )
    return contact, rng


def history_for(contact, rng, now):
    """3 to 8 events between the contact's creation and now, oldest first, the first one being its creation."""
    count = rng.randint(3, 8)
    span = (now - contact.created_at).total_seconds()
    moments = sorted(contact.created_at + timedelta(seconds=rng.uniform(0, span)) for _ in range(count - 1))
    events = [("contact_created", f"Contact created from “{contact.custom_fields['lead_source']}”", contact.created_at)]
    for moment in moments:
        kind, title = rng.choice(HISTORY)
        title = title.format(month=rng.choice(MONTHS), company=contact.company_name or "Acme", first=contact.first_name)
        events.append((kind, title, moment))
    return [
        history.build_entry(contact.company_id, contact.pk, kind, title, occurred_at=moment, data={"source": "demo"})
        for kind, title, moment in events
    ]


def ensure_tags_and_lists(company):
    tags = [Tag.objects.get_or_create(company=company, name=name)[0] for name in TAG_NAMES]
    lists = [
        ContactList.objects.get_or_create(company=company, name=name, defaults={"description": description})[0]
        for name, description in LIST_NAMES
    ]
    return tags, lists


def create_demo_contacts(company, author, target, batch_size=2000, progress=None):
    """Top the company up to ``target`` demo contacts, each with 3-8 history events; some with notes, tags and
    list memberships. Every batch is one short transaction of bulk inserts. Returns how many were created."""
    existing = Contact.objects.filter(company=company).count()
    if existing >= target:
        return 0
    tags, lists = ensure_tags_and_lists(company)
    taken = set(Contact.objects.filter(company=company).values_list("email", flat=True)) if existing else set()
    now = timezone.now()
    created = 0
    for start in range(existing, target, batch_size):
        numbers = range(start, min(start + batch_size, target))
        people = [demo_person(number, taken, now) for number in numbers]
        for contact, _ in people:
            contact.company = company
        with transaction.atomic():
            Contact.objects.bulk_create([contact for contact, _ in people])
            _bulk_children(company, author, people, tags, lists, now)
        created += len(people)
        if progress:
            progress(existing + created, target)
    return created


def _bulk_children(company, author, people, tags, lists, now):
    events, notes, tag_links, memberships = [], [], [], []
    newsletter, fair = lists
    for contact, rng in people:
        events.extend(history_for(contact, rng, now))
        if rng.random() < 0.2:
            note_time = contact.created_at + (now - contact.created_at) * rng.random()
            notes.append(
                Note(company=company, contact=contact, author=author, body=rng.choice(NOTES), created_at=note_time)
            )
        for tag in rng.sample(tags, rng.choice((0, 0, 1, 1, 2))):
            tag_links.append(ContactTag(company=company, contact=contact, tag=tag))
        if contact.custom_fields["newsletter_opt_in"]:
            memberships.append(ListMembership(company=company, contact=contact, contact_list=newsletter))
        if contact.custom_fields["lead_source"] == "Trade fair":
            memberships.append(ListMembership(company=company, contact=contact, contact_list=fair))
    history.write_entries(events)
    Note.objects.bulk_create(notes)
    ContactTag.objects.bulk_create(tag_links)
    ListMembership.objects.bulk_create(memberships)
