"""Contacts and their history in the JSON API (/api/v1/contacts...)."""

from datetime import datetime
from typing import Annotated, Any, Literal

from django.db.models import prefetch_related_objects
from ninja import Field, Query, Router, Schema, Status
from pydantic import BeforeValidator

from keel.contacts import actions
from keel.contacts import validation as contact_validation
from keel.contacts.imports.api import router as import_router
from keel.contacts.listing import SORTS, contact_total, contacts_page, parse_filter
from keel.contacts.lists_api import bulk_router
from keel.contacts.lists_api import router as lists_router
from keel.contacts.models import Contact, Tag
from keel.contacts.params import MAX_ID
from keel.contacts.search import timeline_page
from keel.tenancy import tenant_get

router = Router(tags=["contacts"])
STAGE_FILTERS = ("", *Contact.Stage.values)
router.add_router("", import_router)
router.add_router("", lists_router)
router.add_router("", bulk_router)


class ContactOut(Schema):
    id: int
    email: str
    first_name: str
    last_name: str
    full_name: str
    phone: str
    company_name: str
    job_title: str
    lifecycle_stage: str
    custom_fields: dict[str, Any]
    tags: list[str]
    created_at: datetime
    updated_at: datetime


class ContactTotal(Schema):
    value: int
    relation: Literal["eq", "gte", "about"] = Field(
        description="eq: exactly `value` contacts match; gte: more than `value` (counting stops there); "
        "about: the database's estimate for all the company's contacts"
    )


class ContactPage(Schema):
    items: list[ContactOut]
    next_after: int | None = Field(description="pass as ?after= to get the next page; null on the last page")
    total: ContactTotal = Field(description="how many contacts match the search and filters")


def _rule(name, default):
    """The document states the limits keel.contacts.validation enforces (in its own words) on a contact field."""
    return Field(default, json_schema_extra=CONTACT_FIELD_RULES[name])


CONTACT_FIELD_RULES = {
    **{name: {"maxLength": Contact._meta.get_field(name).max_length} for name in contact_validation.TEXT_FIELDS},
    "email": {"maxLength": 254, "anyOf": [{"type": "string", "format": "email"}, {"const": ""}, {"type": "null"}]},
    "lifecycle_stage": {"enum": Contact.Stage.values},
    "custom_fields": {
        "maxProperties": contact_validation.MAX_CUSTOM_FIELDS,
        "propertyNames": {"minLength": 1, "maxLength": contact_validation.MAX_CUSTOM_KEY_LENGTH, "pattern": r"\S"},
        "additionalProperties": {
            "anyOf": [
                {"type": "string", "maxLength": contact_validation.MAX_CUSTOM_VALUE_LENGTH},
                {"type": "number"},
                {"type": "boolean"},
                {"type": "null"},
            ]
        },
    },
    "tags": {"items": {"type": "string", "pattern": r"\S", "maxLength": Tag._meta.get_field("name").max_length}},
}


class ContactIn(Schema):
    email: str = _rule("email", "")
    first_name: str = _rule("first_name", "")
    last_name: str = _rule("last_name", "")
    phone: str = _rule("phone", "")
    company_name: str = _rule("company_name", "")
    job_title: str = _rule("job_title", "")
    lifecycle_stage: str = _rule("lifecycle_stage", Contact.Stage.SUBSCRIBER)
    custom_fields: dict[str, Any] = _rule("custom_fields", {})
    tags: list[str] = _rule("tags", [])


class ContactPatch(Schema):
    """Only the fields given change. ``null`` clears a field that may be empty (text fields, ``custom_fields``,
    ``tags``); ``lifecycle_stage`` cannot be cleared (422), and a contact keeps an e-mail address or a name (422)."""

    email: str | None = _rule("email", None)
    first_name: str | None = _rule("first_name", None)
    last_name: str | None = _rule("last_name", None)
    phone: str | None = _rule("phone", None)
    company_name: str | None = _rule("company_name", None)
    job_title: str | None = _rule("job_title", None)
    lifecycle_stage: str | None = _rule("lifecycle_stage", None)
    custom_fields: dict[str, Any] | None = _rule("custom_fields", None)
    tags: list[str] | None = Field(
        None,
        description="replaces the contact's tags when given; null removes them all",
        json_schema_extra=CONTACT_FIELD_RULES["tags"],
    )


class ContactListQuery(Schema):
    q: str = Field("", max_length=200, description="prefix of an e-mail address, first name or last name")
    after: int | None = Field(None, ge=0, le=MAX_ID, description="the next_after of the previous page")
    limit: int = Field(50, ge=1, le=200)
    sort: Literal[SORTS] = Field(
        "id",
        description="id (creation order), name, email, company, stage, created; a leading - sorts in descending order",
    )
    stage: Literal[STAGE_FILTERS] = Field("", description="only contacts in this lifecycle stage")
    tag_id: int | None = Field(None, ge=1, le=MAX_ID, description="only contacts with this tag")
    list_id: int | None = Field(None, ge=1, le=MAX_ID, description="only contacts on this list")


class EventOut(Schema):
    id: int
    kind: str
    title: str
    data: dict[str, Any]
    occurred_at: datetime


class EventPage(Schema):
    items: list[EventOut]
    next_before: str | None = Field(description="pass as ?before= to get older events; null on the last page")


def _iso_text(value):
    # The document promises an ISO 8601 string; pydantic would also read a number as seconds since 1970.
    if value is not None and not isinstance(value, str | datetime):
        raise ValueError("must be a date and time in ISO 8601, e.g. 2026-05-01T09:30:00Z")
    return value


IsoDatetime = Annotated[datetime, BeforeValidator(_iso_text)]


class EventIn(Schema):
    kind: str = Field(..., min_length=1, max_length=40, examples=["call"])
    title: str = Field(..., min_length=1, max_length=300, examples=["Called about the renewal"])
    data: dict[str, Any] = {}
    occurred_at: IsoDatetime | None = None


class EventQuery(Schema):
    before: str | None = None
    limit: int = Field(50, ge=1, le=200)


def contact_json(contact, tags=None):
    if tags is None:
        tags = sorted(link.tag.name for link in contact.tag_links.all())
    return {
        "id": contact.id,
        "email": contact.email,
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "full_name": contact.full_name,
        "phone": contact.phone,
        "company_name": contact.company_name,
        "job_title": contact.job_title,
        "lifecycle_stage": contact.lifecycle_stage,
        "custom_fields": contact.custom_fields,
        "tags": tags,
        "created_at": contact.created_at,
        "updated_at": contact.updated_at,
    }


def _get_contact(request, contact_id):
    return tenant_get(request.company, Contact.objects.prefetch_related("tag_links__tag"), pk=contact_id)


@router.get("/contacts", response=ContactPage, summary="List contacts (keyset pages, search, filters, sorts)")
def list_contacts(request, filters: Query[ContactListQuery]):
    contact_filter = parse_filter(request.company, filters.q, filters.stage, filters.tag_id, filters.list_id)
    page = contacts_page(
        request.company, contact_filter, filters.sort, after=filters.after, limit=filters.limit, want_previous=False
    )
    prefetch_related_objects(page.items, "tag_links__tag")
    return {
        "items": [contact_json(c) for c in page.items],
        "next_after": page.next_after,
        "total": contact_total(request.company, contact_filter).as_dict(),
    }


@router.post("/contacts", response={201: ContactOut}, summary="Create a contact")
def create_contact(request, payload: ContactIn):
    fields = payload.dict(exclude={"tags"})
    contact = actions.do_create_contact(request.company, fields, actor=request.user, tags=payload.tags)
    return Status(201, contact_json(_get_contact(request, contact.pk)))


@router.get("/contacts/{int:contact_id}", response=ContactOut, summary="One contact")
def get_contact(request, contact_id: int):
    return contact_json(_get_contact(request, contact_id))


@router.patch("/contacts/{int:contact_id}", response=ContactOut, summary="Change a contact")
def update_contact(request, contact_id: int, payload: ContactPatch):
    contact = _get_contact(request, contact_id)
    changes = payload.dict(exclude_unset=True)
    tags = changes.pop("tags", None)
    if "tags" in payload.model_fields_set and tags is None:
        tags = []  # an explicit null clears the tags, as it clears every other field that may be empty
    actions.do_update_contact(contact, changes, actor=request.user, tags=tags)
    return contact_json(_get_contact(request, contact_id))


@router.delete("/contacts/{int:contact_id}", response={204: None}, summary="Delete a contact and its history")
def delete_contact(request, contact_id: int):
    actions.do_delete_contact(_get_contact(request, contact_id), actor=request.user)
    return Status(204, None)


@router.get("/contacts/{int:contact_id}/events", response=EventPage, summary="A contact's history, newest first")
def list_events(request, contact_id: int, filters: Query[EventQuery]):
    contact = tenant_get(request.company, Contact, pk=contact_id)
    page = timeline_page(contact, before=filters.before, limit=filters.limit)
    return {"items": page.items, "next_before": page.next_before}


@router.post("/contacts/{int:contact_id}/events", response={201: EventOut}, summary="Add a history event")
def add_event(request, contact_id: int, payload: EventIn):
    contact = tenant_get(request.company, Contact, pk=contact_id)
    event = actions.do_add_event(
        contact, payload.kind, payload.title, actor=request.user, data=payload.data, occurred_at=payload.occurred_at
    )
    return Status(201, event)
