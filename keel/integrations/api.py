"""/api/v1/integrations: list, connect, disconnect. The access token goes in and never comes out."""

from datetime import datetime

from ninja import Router, Schema, Status
from pydantic import Field

from keel.accounts.access import require_permission
from keel.integrations.actions import do_connect_integration, do_disconnect_integration
from keel.integrations.models import IntegrationConnection
from keel.tenancy import tenant_get

router = Router(tags=["integrations"])


class ConnectionIn(Schema):
    provider: str = Field(min_length=1, max_length=60)
    access_token: str = Field(min_length=1, max_length=4000)
    revoke_url: str = Field(
        "", max_length=400, description="https:// on a public address (docs/security.md), POSTed on disconnect"
    )


class ConnectionOut(Schema):
    id: int
    provider: str
    revoke_url: str
    connected_by: str | None
    created_at: datetime


def connection_dict(connection):
    return {
        "id": connection.pk,
        "provider": connection.provider,
        "revoke_url": connection.revoke_url_shown,
        "connected_by": connection.connected_by.email if connection.connected_by else None,
        "created_at": connection.created_at,
    }


def _connections(request):
    return IntegrationConnection.objects.filter(company=request.company).select_related("connected_by")


@router.get("/integrations", response=list[ConnectionOut])
def list_integrations(request):
    require_permission(request.user, "manage_integrations")
    return [connection_dict(c) for c in _connections(request).order_by("id")]


@router.post("/integrations", response={201: ConnectionOut})
def connect_integration(request, payload: ConnectionIn):
    require_permission(request.user, "manage_integrations")
    connection = do_connect_integration(
        request.company, request.user, payload.provider, payload.access_token, payload.revoke_url
    )
    return Status(201, connection_dict(connection))


@router.get("/integrations/{int:connection_id}", response=ConnectionOut)
def get_integration(request, connection_id: int):
    require_permission(request.user, "manage_integrations")
    return connection_dict(tenant_get(request.company, _connections(request), pk=connection_id))


@router.delete("/integrations/{int:connection_id}", response={204: None})
def disconnect_integration(request, connection_id: int):
    require_permission(request.user, "manage_integrations")
    do_disconnect_integration(tenant_get(request.company, IntegrationConnection, pk=connection_id), request.user)
    return Status(204, None)
