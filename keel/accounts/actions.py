"""State changes of companies, users, roles, sessions and tokens: the one write boundary (``do_*``).

Views, API and command line only parse input and render output; every action checks its actor's permission
itself. Signature style ``do_x(target, ..., *, actor)``; ``actor=None`` stands for the system (the operators'
command line, a job), which no request can pass.
"""

from django.contrib.sessions.models import Session
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from keel.accounts import permissions, reauth
from keel.accounts.access import require_permission
from keel.accounts.invitations import send_invitation
from keel.accounts.models import ApiToken, Company, Notice, Plan, Role, User, UserSession
from keel.accounts.validation import (
    check_password_strength,
    check_permission_changes,
    clean_email,
    clean_new_user_email,
    email_taken,
)
from keel.audit.actions import record
from keel.errors import Conflict, Forbidden, InvalidInput

LAST_ADMIN_MESSAGE = "The company must keep at least one active Company Administrator."


def unique_slug(name):
    base = slugify(name)[:120] or "company"
    slug, n = base, 1
    while Company.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


def create_builtin_roles(company):
    return {
        kind: Role.objects.create(
            company=company, kind=kind, name=label, permissions=permissions.default_permissions(kind)
        )
        for kind, label in permissions.BUILTIN_ROLES.items()
    }


@transaction.atomic
def do_create_company(name, admin_email, admin_password, plan="standard", admin_name=""):
    """A new company with its three built-in roles and its first Company Administrator."""
    name = name.strip()
    if not name:
        raise InvalidInput("The company name must not be empty.", field="name")
    if Company.objects.filter(name__iexact=name).exists():
        raise InvalidInput(f"A company named “{name}” already exists.", field="name", code="name_taken")
    admin_email = clean_email(admin_email)
    try:
        plan_obj = Plan.objects.get(code=plan)
    except Plan.DoesNotExist:
        choices = ", ".join(Plan.objects.order_by("code").values_list("code", flat=True))
        raise InvalidInput(
            f"Unknown plan “{plan}”. Choose one of: {choices}.", field="plan", code="unknown_plan"
        ) from None
    company = Company.objects.create(name=name, slug=unique_slug(name), plan=plan_obj)
    roles = create_builtin_roles(company)
    admin = User.objects.create_user(
        admin_email, admin_password, company=company, role=roles[permissions.ADMIN], name=admin_name
    )
    record(company, admin, "company.created", company, plan=plan)
    return company, admin


# --- API tokens ---------------------------------------------------------------------------------------------------


def _require_self(user, actor):
    if actor is not None and actor.pk != user.pk:
        raise Forbidden("You can only manage your own sessions, tokens and password.")


def do_create_api_token(user, name, *, actor=None):
    """A new personal token of ``user`` (``actor`` defaults to the user: nobody makes tokens for others)."""
    _require_self(user, actor)
    token, raw = ApiToken.issue(user, (name or "API token").strip()[:80] or "API token")
    record(user.company, user, "api_token.created", token, name=token.name, prefix=token.prefix)
    return token, raw


def do_revoke_api_token(token, *, actor):
    _require_self(token.user, actor)
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        record(token.company_id, actor, "api_token.revoked", token, name=token.name, prefix=token.prefix)
    return token


def revoke_all_tokens(user):
    """Revokes every live token of ``user``; the number revoked."""
    return ApiToken.objects.filter(user=user, revoked_at__isnull=True).update(revoked_at=timezone.now())


def do_revoke_all_api_tokens(user, *, actor):
    _require_self(user, actor)
    revoked = revoke_all_tokens(user)
    if revoked:
        record(user.company_id, actor, "api_token.revoked_all", user, tokens_revoked=revoked)
    return revoked


# --- sessions -----------------------------------------------------------------------------------------------------


def do_end_sessions(target, *, actor, keep_session_key=None):
    """Ends every session of a user or a company (except ``keep_session_key``): their rows in Django's session
    table go, so a copied cookie stops working at once. The number ended.

    A user may end their own sessions; ending someone else's needs *Manage users* (deactivation and password
    resets call this); a company's are ended by the system when its deletion starts (``actor=None``). A user's
    UserSession rows go too; a company's stay until the deletion erases them with the company, so that a browser
    coming back meanwhile is told why its session ended (CompanyMiddleware)."""
    if isinstance(target, Company):
        if actor is not None:
            raise Forbidden("Only the system ends every session of a company.")
        infos = UserSession.objects.filter(company=target)
    else:
        if actor is not None and actor.pk != target.pk:
            require_permission(actor, "manage_users")
        infos = UserSession.objects.filter(user=target)
    if keep_session_key:
        infos = infos.exclude(session_key=keep_session_key)
    keys = list(infos.values_list("session_key", flat=True))
    Session.objects.filter(session_key__in=keys).delete()
    if not isinstance(target, Company):
        UserSession.objects.filter(session_key__in=keys).delete()
    return len(keys)


def do_end_session(session, *, actor):
    """Ends one session from the profile page's list (one's own only)."""
    _require_self(session.user, actor)
    Session.objects.filter(session_key=session.session_key).delete()
    UserSession.objects.filter(pk=session.pk).delete()


# --- logins and passwords -----------------------------------------------------------------------------------------


def do_record_login(user, ip, via="form"):
    record(user.company, user, "user.logged_in", user, ip=ip, via=via)


def do_set_password(user, password, *, actor=None):
    """A new password: through a set-password link (``actor=None``: the link is the proof) or the profile page.
    Every session of the user ends (the profile page then keeps its own, see ``do_change_password``)."""
    _require_self(user, actor)
    check_password_strength(password, user)
    user.set_password(password)
    user.save(update_fields=["password"])
    do_end_sessions(user, actor=None)
    record(user.company, actor or user, "user.password_set", user)
    return user


def do_change_password(user, current_password, new_password, *, actor, keep_session_key=None, revoke_tokens=False):
    """The profile page's change: the current password is re-authenticated (throttled per user like the company
    deletion's password step), every other session ends, and with ``revoke_tokens`` every API token too."""
    _require_self(user, actor)
    if not reauth.password_confirmed(user, current_password, message="Too many wrong current passwords."):
        raise InvalidInput("Your current password is not correct.", field="current_password", code="wrong_password")
    with transaction.atomic():
        check_password_strength(new_password, user)
        user.set_password(new_password)
        user.save(update_fields=["password"])
        ended = do_end_sessions(user, actor=actor, keep_session_key=keep_session_key)
        revoked = revoke_all_tokens(user) if revoke_tokens else 0
        record(user.company, actor, "user.password_set", user, sessions_ended=ended, tokens_revoked=revoked)
    return user


# --- users --------------------------------------------------------------------------------------------------------


def _require_user_manager(actor, *roles):
    if actor is None:
        return
    require_permission(actor, "manage_users")
    # Without this, a user allowed to manage users could make anyone (themselves included) a Company Administrator.
    if any(r.is_company_admin for r in roles) and not actor.is_company_admin:
        raise Forbidden("Only a Company Administrator can grant, change or remove the Company Administrator role.")


def _lock_company(company_id):
    # Serialises changes of one company's administrators, so that two concurrent demotions cannot both pass the
    # last-admin check (SQLite already serialises every write transaction).
    Company.objects.select_for_update().filter(pk=company_id).first()


def _ensure_other_active_admin(user):
    others = User.objects.filter(company_id=user.company_id, is_active=True, role__kind=permissions.ADMIN)
    if not others.exclude(pk=user.pk).exists():
        raise Conflict(LAST_ADMIN_MESSAGE, code="last_admin")


def do_create_user(company, email, name, role, password=None, *, actor):
    """A user of ``company``. Without a password, they get an invitation e-mail with a set-password link."""
    _require_user_manager(actor)
    if role.company_id != company.pk:
        raise InvalidInput("Choose one of the company's roles.", field="role_id", code="unknown_role")
    _require_user_manager(actor, role)
    email = clean_new_user_email(company, email)
    if password:
        check_password_strength(password, User(email=email, name=name or ""))
    try:
        with transaction.atomic():
            user = User.objects.create_user(
                email, password or None, company=company, role=role, name=(name or "").strip()[:120]
            )
            record(company, actor, "user.created", user, email=email, role=role.name, invited=not password)
            if not password:
                send_invitation(user, actor)  # queued in the outbox with the change: both commit, or neither
    except IntegrityError:  # the same e-mail added at the same moment by someone else
        raise email_taken() from None
    return user


def do_send_invitation(user, *, actor):
    """Sends (again) a link to set a password: for an invitation that expired, or a forgotten password."""
    _require_user_manager(actor, user.role)
    if not user.is_active:
        raise InvalidInput("Reactivate the user before sending them a link.", code="user_inactive")
    send_invitation(user, actor)
    record(user.company_id, actor, "user.invited", user, email=user.email)
    return user


def do_reset_password(user, *, actor):
    """An administrator's reset (a password may have leaked): the old password stops working, every session
    ends and every API token is revoked at once, and the user gets a link to choose a new password."""
    _require_user_manager(actor, user.role)
    if not user.is_active:
        raise InvalidInput("Reactivate the user before resetting their password.", code="user_inactive")
    with transaction.atomic():
        user.set_unusable_password()
        user.session_epoch += 1
        user.save(update_fields=["password", "session_epoch"])
        ended = do_end_sessions(user, actor=actor)
        revoked = revoke_all_tokens(user)
        record(
            user.company_id,
            actor,
            "user.password_reset",
            user,
            email=user.email,
            tokens_revoked=revoked,
            sessions_ended=ended,
        )
        send_invitation(user, actor)  # queued in the outbox with the change: both commit, or neither
    return user


def do_change_user_role(user, role, *, actor):
    _require_user_manager(actor)
    if role.company_id != user.company_id:
        raise InvalidInput("Choose one of the company's roles.", field="role_id", code="unknown_role")
    if role.pk == user.role_id:
        return user
    _require_user_manager(actor, user.role, role)
    with transaction.atomic():
        _lock_company(user.company_id)
        user = User.objects.select_related("role").get(pk=user.pk)
        before = user.role
        if before.is_company_admin and not role.is_company_admin and user.is_active:
            _ensure_other_active_admin(user)
        user.role = role
        user.save(update_fields=["role"])
        record(user.company_id, actor, "user.role_changed", user, email=user.email, before=before.name, after=role.name)
    return user


def do_deactivate_user(user, *, actor):
    """Ends the user's access at once: every session and every API token."""
    _require_user_manager(actor)
    if actor is not None and actor.pk == user.pk:
        raise InvalidInput("You cannot deactivate yourself.", field="is_active", code="cannot_deactivate_self")
    _require_user_manager(actor, user.role)
    with transaction.atomic():
        _lock_company(user.company_id)
        user = User.objects.select_related("role").get(pk=user.pk)
        if not user.is_active:
            return user
        if user.role.is_company_admin:
            _ensure_other_active_admin(user)
        user.is_active = False
        user.session_epoch += 1  # also ends a session that has no UserSession row
        user.save(update_fields=["is_active", "session_epoch"])
        ended = do_end_sessions(user, actor=actor)
        revoked = revoke_all_tokens(user)
        record(
            user.company_id,
            actor,
            "user.deactivated",
            user,
            email=user.email,
            tokens_revoked=revoked,
            sessions_ended=ended,
        )
    return user


def do_reactivate_user(user, *, actor):
    _require_user_manager(actor, user.role)
    if not user.is_active:
        user.is_active = True
        user.save(update_fields=["is_active"])
        record(user.company_id, actor, "user.reactivated", user, email=user.email)
    return user


def do_update_user(user, *, actor, role=None, is_active=None):
    """The API's PATCH: role and active state change together or not at all."""
    _require_user_manager(actor)
    with transaction.atomic():
        if role is not None:
            user = do_change_user_role(user, role, actor=actor)
        if is_active is False:
            user = do_deactivate_user(user, actor=actor)
        elif is_active is True:
            user = do_reactivate_user(user, actor=actor)
    return user


# --- roles --------------------------------------------------------------------------------------------------------


def do_update_role_permissions(role, changes, *, actor):
    """Grant (True) or withdraw (False) permission codes. Codes not named keep their current state."""
    if actor is not None:
        require_permission(actor, "manage_roles")
    if actor is not None and role.is_company_admin and not actor.is_company_admin:
        raise Forbidden("Only a Company Administrator can change the Company Administrator role.")
    check_permission_changes(role, changes)
    with transaction.atomic():
        role = Role.objects.select_for_update().get(pk=role.pk)
        before = sorted(role.permissions)
        after = set(before)
        for code, granted in changes.items():
            (after.add if granted else after.discard)(code)
        after = sorted(after)
        if after != before:
            role.permissions = after
            role.save(update_fields=["permissions"])
            record(
                role.company_id,
                actor,
                "role.updated",
                role,
                role=role.name,
                before=before,
                after=after,
                granted=sorted(set(after) - set(before)),
                withdrawn=sorted(set(before) - set(after)),
            )
    return role


# --- notices ------------------------------------------------------------------------------------------------------


def do_mark_notices_read(user, *, actor=None):
    _require_self(user, actor)
    return Notice.objects.filter(user=user, read_at__isnull=True).update(read_at=timezone.now())
