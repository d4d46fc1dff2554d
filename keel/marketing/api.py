"""Campaigns and workflows in the JSON API (/api/v1/campaigns..., /api/v1/workflows...)."""

from datetime import datetime
from typing import Literal

from django.db.models import Count
from ninja import Field, Query, Router, Schema, Status

from keel.contacts.listing import parse_filter
from keel.contacts.models import Contact
from keel.contacts.params import MAX_ID
from keel.contacts.search import keyset_page
from keel.marketing import actions
from keel.marketing.models import Campaign, CampaignRecipient, Workflow, WorkflowEnrollment
from keel.tenancy import tenant_get

router = Router(tags=["marketing"])
STAGE_FILTERS = ("", *Contact.Stage.values)


class PageQuery(Schema):
    after: int | None = Field(None, ge=0, le=MAX_ID, description="the next_after of the previous page")
    limit: int = Field(50, ge=1, le=200)


class ContactIds(Schema):
    contact_ids: list[int] = Field(..., min_length=1, max_length=actions.MAX_CONTACT_IDS)


class RecipientCounts(Schema):
    total: int
    pending: int
    sent: int = Field(description="recipients the campaign reached, including those who opened or clicked")
    opened: int = Field(description="recipients who opened, including those who clicked")
    clicked: int


class CampaignOut(Schema):
    id: int
    name: str
    subject: str
    body: str
    status: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    recipients: RecipientCounts


class CampaignPage(Schema):
    items: list[CampaignOut]
    next_after: int | None


class CampaignIn(Schema):
    name: str = Field(..., min_length=1, max_length=150)
    subject: str = Field("", max_length=200)
    body: str = ""


class RecipientOut(Schema):
    id: int
    contact_id: int
    email: str
    name: str
    status: str
    sent_at: datetime | None
    opened_at: datetime | None
    clicked_at: datetime | None


class RecipientPage(Schema):
    items: list[RecipientOut]
    next_after: int | None


class RecipientsAdded(Schema):
    added: int = Field(description="contacts that were not recipients before")
    recipients: RecipientCounts


class WorkflowOut(Schema):
    id: int
    name: str
    trigger: str
    status: str
    created_at: datetime
    enrollments: int


class WorkflowPage(Schema):
    items: list[WorkflowOut]
    next_after: int | None


class WorkflowIn(Schema):
    name: str = Field(..., min_length=1, max_length=150)
    trigger: str = Field("", max_length=100)


class EnrollmentOut(Schema):
    id: int
    contact_id: int
    email: str
    name: str
    state: str
    enrolled_at: datetime


class EnrollmentPage(Schema):
    items: list[EnrollmentOut]
    next_after: int | None


class EnrollmentsAdded(Schema):
    added: int = Field(description="contacts that were not enrolled before")
    enrollments: int


# --- campaigns ----------------------------------------------------------------------------------------------


def campaigns_json(campaigns):
    counts = actions.recipient_counts([c.pk for c in campaigns])
    return [{**_campaign_fields(c), "recipients": counts[c.pk]} for c in campaigns]


def _campaign_fields(campaign):
    fields = ("id", "name", "subject", "body", "status", "created_at", "started_at", "finished_at")
    return {name: getattr(campaign, name) for name in fields}


def _campaign(request, campaign_id):
    return tenant_get(request.company, Campaign, pk=campaign_id)


@router.get("/campaigns", response=CampaignPage, summary="List campaigns")
def list_campaigns(request, page: Query[PageQuery]):
    result = keyset_page(Campaign.objects.filter(company=request.company), after=page.after, limit=page.limit)
    return {"items": campaigns_json(result.items), "next_after": result.next_after}


@router.post("/campaigns", response={201: CampaignOut}, summary="Create a campaign (draft)")
def create_campaign(request, payload: CampaignIn):
    campaign = actions.do_create_campaign(
        request.company, payload.name, actor=request.user, subject=payload.subject, body=payload.body
    )
    return Status(201, campaigns_json([campaign])[0])


@router.get("/campaigns/{int:campaign_id}", response=CampaignOut, summary="One campaign")
def get_campaign(request, campaign_id: int):
    return campaigns_json([_campaign(request, campaign_id)])[0]


@router.post("/campaigns/{int:campaign_id}/start", response=CampaignOut, summary="Start sending")
def start_campaign(request, campaign_id: int):
    campaign = actions.do_start_campaign(_campaign(request, campaign_id), actor=request.user)
    return campaigns_json([campaign])[0]


@router.post("/campaigns/{int:campaign_id}/stop", response=CampaignOut, summary="Stop sending")
def stop_campaign(request, campaign_id: int):
    campaign = actions.do_stop_campaign(_campaign(request, campaign_id), actor=request.user)
    return campaigns_json([campaign])[0]


@router.get("/campaigns/{int:campaign_id}/recipients", response=RecipientPage, summary="A campaign's recipients")
def list_recipients(request, campaign_id: int, page: Query[PageQuery]):
    campaign = _campaign(request, campaign_id)
    recipients = CampaignRecipient.objects.filter(company=request.company, campaign=campaign).select_related("contact")
    result = keyset_page(recipients, after=page.after, limit=page.limit, want_previous=False)
    items = [
        {
            "id": r.id,
            "contact_id": r.contact_id,
            "email": r.contact.email,
            "name": r.contact.full_name,
            "status": r.status,
            "sent_at": r.sent_at,
            "opened_at": r.opened_at,
            "clicked_at": r.clicked_at,
        }
        for r in result.items
    ]
    return {"items": items, "next_after": result.next_after}


@router.post("/campaigns/{int:campaign_id}/recipients", response=RecipientsAdded, summary="Add recipients")
def add_recipients(request, campaign_id: int, payload: ContactIds):
    campaign = _campaign(request, campaign_id)
    added = actions.do_add_recipients(campaign, payload.contact_ids, actor=request.user)
    return {"added": added, "recipients": actions.recipient_counts([campaign.pk])[campaign.pk]}


class RecipientFilter(Schema):
    q: str = Field("", max_length=200, description="prefix of an e-mail address, first name or last name")
    stage: Literal[STAGE_FILTERS] = Field("", description="only contacts in this lifecycle stage")
    tag_id: int | None = Field(None, ge=1, le=MAX_ID, description="only contacts with this tag")
    list_id: int | None = Field(None, ge=1, le=MAX_ID, description="only contacts on this list")


@router.post(
    "/campaigns/{int:campaign_id}/recipients/matching",
    response=RecipientsAdded,
    summary="Add every contact matching a search and filters (a list: list_id; {} = every contact)",
)
def add_matching_recipients(request, campaign_id: int, payload: RecipientFilter):
    campaign = _campaign(request, campaign_id)
    contact_filter = parse_filter(request.company, payload.q, payload.stage, payload.tag_id, payload.list_id)
    added = actions.do_add_filter_recipients(campaign, contact_filter, actor=request.user)
    return {"added": added, "recipients": actions.recipient_counts([campaign.pk])[campaign.pk]}


# --- workflows ----------------------------------------------------------------------------------------------


def workflows_json(workflows):
    counts = dict(
        WorkflowEnrollment.objects.filter(workflow_id__in=[w.pk for w in workflows])
        .values_list("workflow_id")
        .annotate(n=Count("id"))
    )
    fields = ("id", "name", "trigger", "status", "created_at")
    return [{**{name: getattr(w, name) for name in fields}, "enrollments": counts.get(w.pk, 0)} for w in workflows]


def _workflow(request, workflow_id):
    return tenant_get(request.company, Workflow, pk=workflow_id)


@router.get("/workflows", response=WorkflowPage, summary="List workflows")
def list_workflows(request, page: Query[PageQuery]):
    result = keyset_page(Workflow.objects.filter(company=request.company), after=page.after, limit=page.limit)
    return {"items": workflows_json(result.items), "next_after": result.next_after}


@router.post("/workflows", response={201: WorkflowOut}, summary="Create a workflow (inactive)")
def create_workflow(request, payload: WorkflowIn):
    workflow = actions.do_create_workflow(request.company, payload.name, actor=request.user, trigger=payload.trigger)
    return Status(201, workflows_json([workflow])[0])


@router.get("/workflows/{int:workflow_id}", response=WorkflowOut, summary="One workflow")
def get_workflow(request, workflow_id: int):
    return workflows_json([_workflow(request, workflow_id)])[0]


@router.post("/workflows/{int:workflow_id}/activate", response=WorkflowOut, summary="Activate a workflow")
def activate_workflow(request, workflow_id: int):
    return workflows_json([actions.do_activate_workflow(_workflow(request, workflow_id), actor=request.user)])[0]


@router.post("/workflows/{int:workflow_id}/deactivate", response=WorkflowOut, summary="Deactivate a workflow")
def deactivate_workflow(request, workflow_id: int):
    return workflows_json([actions.do_deactivate_workflow(_workflow(request, workflow_id), actor=request.user)])[0]


@router.get("/workflows/{int:workflow_id}/enrollments", response=EnrollmentPage, summary="A workflow's enrollments")
def list_enrollments(request, workflow_id: int, page: Query[PageQuery]):
    workflow = _workflow(request, workflow_id)
    enrollments = WorkflowEnrollment.objects.filter(company=request.company, workflow=workflow).select_related(
        "contact"
    )
    result = keyset_page(enrollments, after=page.after, limit=page.limit, want_previous=False)
    items = [
        {
            "id": e.id,
            "contact_id": e.contact_id,
            "email": e.contact.email,
            "name": e.contact.full_name,
            "state": e.state,
            "enrolled_at": e.enrolled_at,
        }
        for e in result.items
    ]
    return {"items": items, "next_after": result.next_after}


@router.post("/workflows/{int:workflow_id}/enrollments", response=EnrollmentsAdded, summary="Enroll contacts")
def add_enrollments(request, workflow_id: int, payload: ContactIds):
    workflow = _workflow(request, workflow_id)
    added = actions.do_enroll_contacts(workflow, payload.contact_ids, actor=request.user)
    return {"added": added, "enrollments": WorkflowEnrollment.objects.filter(workflow=workflow).count()}
