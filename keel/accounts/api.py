"""Auth, the current user, users and roles: /api/v1/auth/token, /me, /users, /roles."""

from datetime import datetime

from ninja import Router, Schema, Status
from pydantic import Field

from keel.accounts import actions, permissions
from keel.accounts.access import require_permission
from keel.accounts.login import check_credentials, client_ip
from keel.accounts.models import Role, User
from keel.accounts.validation import role_of_company
from keel.errors import Forbidden
from keel.mail.models import OutgoingEmail
from keel.mail.outbox import latest_emails
from keel.tenancy import tenant_get

router = Router(tags=["accounts"])


class TokenIn(Schema):
    email: str = Field(max_length=254)
    password: str = Field(max_length=4096)
    name: str = Field("", max_length=80, description="a name to recognise the token by on the profile page")


class TokenOut(Schema):
    token: str


@router.post("/auth/token", auth=None, response={201: TokenOut})
def create_token(request, payload: TokenIn):
    """Exchange an e-mail and password for a personal API token (shown once). Throttled like the login form."""
    user = check_credentials(payload.email, payload.password, client_ip(request))
    _, raw = actions.do_create_api_token(user, payload.name or "Created through the API", actor=user)
    actions.do_record_login(user, client_ip(request), via="api")
    return Status(201, {"token": raw})


def invitation_email_dict(email):
    """The newest invitation e-mail's delivery, or None (docs/operations.md, "E-mail")."""
    if email is None:
        return None
    return {"state": email.state, "error": email.last_error or None, "status": email.status_text}


def user_dict(user, invitation_emails=None):
    if invitation_emails is None:
        invitation_emails = latest_emails(OutgoingEmail.Kind.INVITATION, [user.pk])
    return {
        "id": user.pk,
        "email": user.email,
        "name": user.name,
        "role": user.role.name,
        "role_id": user.role_id,
        "role_kind": user.role.kind,
        "is_active": user.is_active,
        "invited": user.is_active and not user.has_usable_password(),
        "invitation_email": invitation_email_dict(invitation_emails.get(user.pk)),
        "date_joined": user.date_joined,
        "last_login": user.last_login,
    }


@router.get("/me")
def me(request):
    user, company = request.user, request.company
    return {
        "user": {
            "id": user.pk,
            "email": user.email,
            "name": user.name,
            "role": user.role.name,
            "role_id": user.role_id,
        },
        "company": {"id": company.pk, "name": company.name, "plan": company.plan_id, "status": company.status},
        "permissions": [p.code for p in permissions.PERMISSIONS if user.has_perm_code(p.code)],
    }


class RevokedOut(Schema):
    revoked: int


@router.post("/me/tokens/revoke", response=RevokedOut)
def revoke_my_tokens(request):
    """Revoke every API token of the current user, the one this request uses included (after a leak)."""
    return {"revoked": actions.do_revoke_all_api_tokens(request.user, actor=request.user)}


# --- users --------------------------------------------------------------------------------------------------------


class InvitationEmailOut(Schema):
    state: str = Field(description="queued, sending, sent or failed")
    error: str | None = Field(description="why the last attempt was not delivered")
    status: str = Field(description='for people, e.g. "e-mail not delivered: <reason>"')


class UserOut(Schema):
    id: int
    email: str
    name: str
    role: str
    role_id: int
    role_kind: str
    is_active: bool
    invited: bool
    invitation_email: InvitationEmailOut | None
    date_joined: datetime
    last_login: datetime | None


class UserIn(Schema):
    email: str = Field(max_length=254)
    name: str = Field("", max_length=120)
    role_id: int
    password: str | None = Field(None, max_length=4096, description="omit to send an invitation e-mail instead")


class UserPatch(Schema):
    role_id: int | None = None
    is_active: bool | None = None


def _company_users(request):
    return User.objects.filter(company=request.company).select_related("role")


@router.get("/users", response=list[UserOut])
def list_users(request):
    require_permission(request.user, "manage_users")
    users = list(_company_users(request).order_by("id"))
    invitation_emails = latest_emails(OutgoingEmail.Kind.INVITATION, [u.pk for u in users])
    return [user_dict(u, invitation_emails) for u in users]


@router.post("/users", response={201: UserOut})
def create_user(request, payload: UserIn):
    role = role_of_company(request.company, payload.role_id)
    user = actions.do_create_user(
        request.company, payload.email, payload.name, role, payload.password, actor=request.user
    )
    return Status(201, user_dict(user))


@router.get("/users/{user_id}", response=UserOut)
def get_user(request, user_id: int):
    require_permission(request.user, "manage_users")
    return user_dict(tenant_get(request.company, _company_users(request), pk=user_id))


@router.patch("/users/{user_id}", response=UserOut)
def update_user(request, user_id: int, payload: UserPatch):
    user = tenant_get(request.company, _company_users(request), pk=user_id)
    role = role_of_company(request.company, payload.role_id) if payload.role_id is not None else None
    user = actions.do_update_user(user, actor=request.user, role=role, is_active=payload.is_active)
    return user_dict(User.objects.select_related("role").get(pk=user.pk))


@router.post("/users/{user_id}/reset-password", response=UserOut)
def reset_password(request, user_id: int):
    """The old password stops working, sessions end, API tokens are revoked; the user gets a set-password link."""
    user = tenant_get(request.company, _company_users(request), pk=user_id)
    actions.do_reset_password(user, actor=request.user)
    return user_dict(User.objects.select_related("role").get(pk=user.pk))


# --- roles --------------------------------------------------------------------------------------------------------


class RoleOut(Schema):
    id: int
    name: str
    kind: str
    is_company_admin: bool
    permissions: dict[str, bool]
    offered: list[str] = Field(description="the permission codes this role may be granted")


class RolePatch(Schema):
    permissions: dict[str, bool]


def role_dict(role):
    return {
        "id": role.pk,
        "name": role.name,
        "kind": role.kind,
        "is_company_admin": role.is_company_admin,
        "permissions": permissions.permission_map(role),
        "offered": [p.code for p in permissions.offered_permissions(role)],
    }


def _require_role_reader(user):
    # Listing roles is also what a user manager needs to choose a role_id.
    if not (user.has_perm_code("manage_roles") or user.has_perm_code("manage_users")):
        raise Forbidden("Your role does not allow this action.")


@router.get("/roles", response=list[RoleOut])
def list_roles(request):
    _require_role_reader(request.user)
    return [role_dict(r) for r in Role.objects.filter(company=request.company).order_by("id")]


@router.get("/roles/{role_id}", response=RoleOut)
def get_role(request, role_id: int):
    _require_role_reader(request.user)
    return role_dict(tenant_get(request.company, Role, pk=role_id))


@router.patch("/roles/{role_id}", response=RoleOut)
def update_role(request, role_id: int, payload: RolePatch):
    role = tenant_get(request.company, Role, pk=role_id)
    return role_dict(actions.do_update_role_permissions(role, payload.permissions, actor=request.user))
