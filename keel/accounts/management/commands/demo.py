"""``keel demo [--contacts N]``: the demo company Acme, created once and reused on every later run."""

import random
from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from keel.accounts import permissions
from keel.accounts.actions import do_create_company, do_create_user
from keel.accounts.models import Company, Role, User
from keel.contacts import history
from keel.contacts.demo_data import create_demo_contacts, ensure_tags_and_lists
from keel.contacts.guards import check_crm_writable
from keel.contacts.models import Contact
from keel.errors import KeelError
from keel.integrations.actions import do_connect_integration
from keel.integrations.models import IntegrationConnection
from keel.marketing.models import Campaign, CampaignRecipient, Workflow, WorkflowEnrollment

COMPANY_NAME = "Acme"
PLAN = "standard"
ADMIN_EMAIL = "admin@acme.example"
MEMBER_EMAIL = "member@acme.example"
PASSWORD = "keel-demo-admin"
SENT_CAMPAIGN = "Spring product launch"
DRAFT_CAMPAIGN = "Autumn webinar invitation"
WORKFLOW = "New lead onboarding"
INTEGRATION_PROVIDER = "Mailchimp"


class Command(BaseCommand):
    help = (
        "Create the demo company Acme with users, contacts and their history, campaigns, a workflow and an "
        "integration. Running it again reuses what exists and prints the same login."
    )

    def add_arguments(self, parser):
        parser.add_argument("--contacts", type=int, default=3000, help="how many contacts Acme has (default 3000)")

    def handle(self, contacts, **options):
        self.verbosity = options["verbosity"]
        if contacts < 0:
            raise CommandError("--contacts must be 0 or more.")
        try:
            company, admin = self.company_and_admin()
            self.member(company, admin)
            check_crm_writable(company)
            created = create_demo_contacts(company, admin, contacts, progress=self.progress)
            ensure_tags_and_lists(company)
            self.campaigns(company, admin)
            self.workflow(company, admin)
            self.integration(company, admin)
        except KeelError as exc:
            raise CommandError(exc.message) from None
        total = Contact.objects.filter(company=company).count()
        self.stdout.write(
            f"Demo company “{company.name}” is ready: {total} contacts ({created} new).\n"
            f"Open {settings.SITE_URL.rstrip('/')}/ and log in as a Company Administrator:\n"
            f"  e-mail:   {ADMIN_EMAIL}\n"
            f"  password: {PASSWORD}\n"
            f"(Member: {MEMBER_EMAIL}, same password.)"
        )

    def progress(self, done, total):
        if self.verbosity >= 1 and (done == total or done % 20000 == 0):
            self.stdout.write(f"  {done}/{total} contacts")

    # --- users ----------------------------------------------------------------------------------------------

    def company_and_admin(self):
        company = Company.objects.filter(name__iexact=COMPANY_NAME).first()
        if company is None:
            return do_create_company(COMPANY_NAME, ADMIN_EMAIL, PASSWORD, plan=PLAN, admin_name="Alex Admin")
        if not company.is_active:
            raise CommandError(f"The company “{company.name}” is being deleted; run the demo again afterwards.")
        admin = User.objects.filter(email=ADMIN_EMAIL).first()
        if admin is not None and admin.company_id != company.pk:
            raise CommandError(f"{ADMIN_EMAIL} belongs to another company than {company.name}.")
        if admin is None:
            role = Role.objects.get(company=company, kind=permissions.ADMIN)
            existing_admin = User.objects.filter(company=company, role=role, is_active=True).first()
            admin = do_create_user(company, ADMIN_EMAIL, "Alex Admin", role, password=PASSWORD, actor=existing_admin)
        return company, admin

    def member(self, company, admin):
        member = User.objects.filter(email=MEMBER_EMAIL).first()
        if member is None:
            role = Role.objects.get(company=company, kind=permissions.MEMBER)
            member = do_create_user(company, MEMBER_EMAIL, "Morgan Member", role, password=PASSWORD, actor=admin)
        return member

    # --- marketing ------------------------------------------------------------------------------------------

    def campaigns(self, company, admin):
        if not Campaign.objects.filter(company=company, name=SENT_CAMPAIGN).exists():
            self.sent_campaign(company, admin)
        if not Campaign.objects.filter(company=company, name=DRAFT_CAMPAIGN).exists():
            campaign = Campaign.objects.create(
                company=company,
                name=DRAFT_CAMPAIGN,
                subject="Join us: Getting started with Keel",
                body="Hello,\n\nwe would love to see you at our autumn webinar.",
                created_by=admin,
            )
            leads = self.contact_ids(company, 50, lifecycle_stage=Contact.Stage.LEAD)
            CampaignRecipient.objects.bulk_create(
                [CampaignRecipient(company=company, campaign=campaign, contact_id=i) for i in leads]
            )

    def sent_campaign(self, company, admin):
        """A campaign sent a month ago, whose recipients sent, opened or clicked, with their history events."""
        rng = random.Random(2025)
        sent_at = timezone.now() - timedelta(days=30)
        recipients = self.contact_ids(company, 400, custom_fields__newsletter_opt_in=True)
        with transaction.atomic():
            campaign = Campaign.objects.create(
                company=company,
                name=SENT_CAMPAIGN,
                subject="Meet the new Keel",
                body="Hello,\n\nour spring release is here: faster search, smarter workflows.",
                status=Campaign.Status.SENT,
                created_by=admin,
                created_at=sent_at - timedelta(days=2),
                started_at=sent_at,
                finished_at=sent_at + timedelta(minutes=4),
                heartbeat_at=sent_at + timedelta(minutes=4),
            )
            rows, events = [], []
            for contact_id in recipients:
                status = rng.choices(("sent", "opened", "clicked"), weights=(55, 30, 15))[0]
                opened = sent_at + timedelta(hours=rng.uniform(1, 72)) if status != "sent" else None
                clicked = opened + timedelta(minutes=rng.uniform(1, 30)) if status == "clicked" else None
                rows.append(
                    CampaignRecipient(
                        company=company,
                        campaign=campaign,
                        contact_id=contact_id,
                        status=status,
                        sent_at=sent_at,
                        opened_at=opened,
                        clicked_at=clicked,
                    )
                )
                for kind, verb, moment in (
                    ("sent", "Sent", sent_at),
                    ("opened", "Opened", opened),
                    ("clicked", "Clicked a link in", clicked),
                ):
                    if moment is not None:
                        events.append(
                            history.build_entry(
                                company.pk,
                                contact_id,
                                f"campaign_{kind}",
                                f"{verb} the campaign {SENT_CAMPAIGN}",
                                occurred_at=moment,
                                data={"campaign_id": campaign.pk},
                            )
                        )
            CampaignRecipient.objects.bulk_create(rows)
            history.write_entries(events)

    def workflow(self, company, admin):
        if Workflow.objects.filter(company=company, name=WORKFLOW).exists():
            return
        enrolled_at = timezone.now() - timedelta(days=7)
        with transaction.atomic():
            workflow = Workflow.objects.create(
                company=company,
                name=WORKFLOW,
                trigger="Lifecycle stage becomes Lead",
                status=Workflow.Status.ACTIVE,
                created_by=admin,
            )
            leads = self.contact_ids(company, 200, lifecycle_stage=Contact.Stage.LEAD)
            WorkflowEnrollment.objects.bulk_create(
                [
                    WorkflowEnrollment(company=company, workflow=workflow, contact_id=i, enrolled_at=enrolled_at)
                    for i in leads
                ]
            )
            history.add_entries(
                company.pk,
                leads,
                "workflow_enrolled",
                f"Enrolled in the workflow {WORKFLOW}",
                occurred_at=enrolled_at,
                data={"workflow_id": workflow.pk},
            )

    def integration(self, company, admin):
        if not IntegrationConnection.objects.filter(company=company, provider=INTEGRATION_PROVIDER).exists():
            # A made-up token, encrypted at rest like any other; it is never shown again.
            token = "demo-" + "".join(random.Random(company.pk).choices("abcdef0123456789", k=32)) + "-us21"
            do_connect_integration(company, admin, INTEGRATION_PROVIDER, token)

    @staticmethod
    def contact_ids(company, limit, **filters):
        contacts = Contact.objects.filter(company=company, **filters).order_by("id")
        return list(contacts.values_list("id", flat=True)[:limit])
