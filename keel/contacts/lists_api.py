"""Contact lists and bulk actions on contacts in the JSON API (/api/v1/lists..., /api/v1/contacts/bulk/...)."""

from datetime import datetime
from typing import Literal

from ninja import Field, Query, Router, Schema, Status
from pydantic import model_validator

from keel.contacts import actions, bulk_actions
from keel.contacts.bulk_actions import Selection
from keel.contacts.listing import ContactFilter, contact_total, parse_filter
from keel.contacts.models import Contact, ContactList, Tag
from keel.contacts.params import MAX_ID
from keel.contacts.search import keyset_page
from keel.jobs.api import JobEnvelope, job_out
from keel.tenancy import tenant_get

router = Router(tags=["lists"])
bulk_router = Router(tags=["contacts"])
STAGE_FILTERS = ("", *Contact.Stage.values)


class Total(Schema):
    value: int
    relation: Literal["eq", "gte", "about"]


class ListOut(Schema):
    id: int
    name: str
    description: str
    created_at: datetime
    members: Total = Field(description="contacts on the list (exact up to 10,000; then relation gte)")


class ListPage(Schema):
    items: list[ListOut]
    next_after: int | None


class ListIn(Schema):
    name: str = Field(..., min_length=1, max_length=100)
    description: str = Field("", max_length=300)


class ListRename(Schema):
    name: str = Field(..., min_length=1, max_length=100)


class PageQuery(Schema):
    after: int | None = Field(None, ge=0, le=MAX_ID, description="the next_after of the previous page")
    limit: int = Field(50, ge=1, le=200)


def list_json(company, contact_list):
    total = contact_total(company, ContactFilter(contact_list=contact_list))
    fields = ("id", "name", "description", "created_at")
    return {**{name: getattr(contact_list, name) for name in fields}, "members": total.as_dict()}


@router.get("/lists", response=ListPage, summary="List contact lists")
def list_lists(request, page: Query[PageQuery]):
    result = keyset_page(ContactList.objects.filter(company=request.company), after=page.after, limit=page.limit)
    return {"items": [list_json(request.company, li) for li in result.items], "next_after": result.next_after}


@router.post("/lists", response={201: ListOut}, summary="Create a contact list")
def create_list(request, payload: ListIn):
    contact_list = actions.do_create_list(
        request.company, payload.name, actor=request.user, description=payload.description
    )
    return Status(201, list_json(request.company, contact_list))


@router.get("/lists/{int:list_id}", response=ListOut, summary="One contact list (its members: GET /contacts?list_id=)")
def get_list(request, list_id: int):
    return list_json(request.company, tenant_get(request.company, ContactList, pk=list_id))


@router.patch("/lists/{int:list_id}", response=ListOut, summary="Rename a contact list")
def rename_list(request, list_id: int, payload: ListRename):
    contact_list = tenant_get(request.company, ContactList, pk=list_id)
    actions.do_rename_list(contact_list, payload.name, actor=request.user)
    return list_json(request.company, contact_list)


@router.delete("/lists/{int:list_id}", response={204: None}, summary="Delete a contact list (its contacts stay)")
def delete_list(request, list_id: int):
    actions.do_delete_list(tenant_get(request.company, ContactList, pk=list_id), actor=request.user)
    return Status(204, None)


# --- bulk actions -----------------------------------------------------------------------------------------------


class FilterIn(Schema):
    q: str = Field("", max_length=200)
    stage: Literal[STAGE_FILTERS] = ""
    tag_id: int | None = Field(None, ge=1, le=MAX_ID)
    list_id: int | None = Field(None, ge=1, le=MAX_ID)


class SelectionIn(Schema):
    contact_ids: list[int] | None = Field(
        None, min_length=1, max_length=bulk_actions.MAX_SELECTED_IDS, description="these contacts"
    )
    filter: FilterIn | None = Field(None, description="every contact matching this search and filters ({} = all)")

    @model_validator(mode="after")
    def one_selection(self):
        if (self.contact_ids is None) == (self.filter is None):
            raise ValueError("give either contact_ids or filter")
        return self


class TagSelection(SelectionIn):
    tag: str = Field(..., min_length=1, max_length=60)


class ListSelection(SelectionIn):
    list_id: int = Field(..., ge=1, le=MAX_ID)


class DeleteSelection(SelectionIn):
    confirm: Literal[True] = Field(description="must be true: deleting contacts cannot be undone")


class BulkResult(Schema):
    affected: int = Field(description="contacts changed (tagged, untagged, added or deleted)")


def _selection(request, payload):
    if payload.filter is None:
        return Selection(contact_ids=payload.contact_ids)
    f = payload.filter
    return Selection(contact_filter=parse_filter(request.company, f.q, f.stage, f.tag_id, f.list_id))


@bulk_router.post("/contacts/bulk/add-tag", response=BulkResult, summary="Tag the selected contacts")
def bulk_add_tag(request, payload: TagSelection):
    selection = _selection(request, payload)
    _, added = bulk_actions.do_bulk_add_tag(request.company, selection, payload.tag, actor=request.user)
    return {"affected": added}


@bulk_router.post("/contacts/bulk/remove-tag", response=BulkResult, summary="Untag the selected contacts")
def bulk_remove_tag(request, payload: TagSelection):
    selection = _selection(request, payload)
    tag = Tag.objects.filter(company=request.company, name__iexact=" ".join(payload.tag.split())).first()
    return {"affected": bulk_actions.do_bulk_remove_tag(request.company, selection, tag, actor=request.user)}


@bulk_router.post("/contacts/bulk/add-to-list", response=BulkResult, summary="Add the selected contacts to a list")
def bulk_add_to_list(request, payload: ListSelection):
    contact_list = tenant_get(request.company, ContactList, pk=payload.list_id)
    selection = _selection(request, payload)
    return {"affected": bulk_actions.do_bulk_add_to_list(request.company, selection, contact_list, actor=request.user)}


@bulk_router.post(
    "/contacts/bulk/delete", response={200: BulkResult, 202: JobEnvelope}, summary="Delete the selected contacts"
)
def bulk_delete(request, payload: DeleteSelection):
    """Up to ``KEEL_BULK_DELETE_INLINE_LIMIT`` contacts (2,000 by default) are deleted at once: 200 with how many.
    A larger selection, of any size, is deleted in the background: 202 with the ``contact_deletion`` job (follow it
    at /api/v1/jobs/{id}); contacts created after the request are kept. Such a job is refused with 409
    ``operation_in_progress`` while an import, a restore or another one runs; any bulk deletion is refused with 409
    ``crm_deletion_in_progress`` while all CRM records are being deleted."""
    selection = _selection(request, payload)
    deletion = bulk_actions.do_bulk_delete_contacts(request.company, selection, actor=request.user)
    if deletion.job is not None:
        return Status(202, {"job": job_out(deletion.job)})
    return {"affected": deletion.deleted}
