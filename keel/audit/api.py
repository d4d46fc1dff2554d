"""GET /api/v1/audit: the company's audit log, newest first, keyset-paginated."""

from typing import Any

from ninja import Query, Router, Schema
from pydantic import Field

from keel.accounts.access import require_company_admin
from keel.audit.queries import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, audit_page, event_dict

router = Router(tags=["audit"])


class AuditQuery(Schema):
    before: int | None = Field(None, ge=1, description="the next_before of the previous page")
    limit: int = Field(DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)


class AuditPage(Schema):
    items: list[dict[str, Any]]
    next_before: int | None


@router.get("/audit", response=AuditPage)
def list_audit_events(request, query: Query[AuditQuery]):
    require_company_admin(request.user, "view_audit_log")
    events, next_before = audit_page(request.company, query.before, query.limit)
    return {"items": [event_dict(e) for e in events], "next_before": next_before}
