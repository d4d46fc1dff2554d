"""State changes of companies, users, roles and tokens. Views, API and CLI all call these (``do_*``)."""

from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.text import slugify

from keel.accounts import permissions
from keel.accounts.models import ApiToken, Company, Notice, Plan, Role, User
from keel.accounts.notify import send_email
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


def clean_email(email):
    email = (email or "").strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        raise InvalidInput(f"“{email}” is not a valid e-mail address.", field="email") from None
    if User.objects.filter(email__iexact=email).exists():
        raise InvalidInput("A user with this e-mail address already exists.", field="email", code="email_taken")
    return email


def check_password_strength(password, user=None, field="password"):
    try:
        password_validation.validate_password(password, user)
    except ValidationError as exc:
        raise InvalidInput(" ".join(exc.messages), field=field, code="weak_password") from None


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


def do_create_api_token(user, name):
    token, raw = ApiToken.issue(user, (name or "API token").strip()[:80] or "API token")
    record(user.company, user, "api_token.created", token, name=token.name, prefix=token.prefix)
    return token, raw


def do_revoke_api_token(token, actor):
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        record(token.company_id, actor, "api_token.revoked", token, name=token.name, prefix=token.prefix)
    return token


# --- logins and passwords -----------------------------------------------------------------------------------------


def do_record_login(user, ip, via="form"):
    record(user.company, user, "user.logged_in", user, ip=ip, via=via)


class SetPasswordTokenGenerator(PasswordResetTokenGenerator):
    """Signed set-password links. A link dies once the password is set, or the user is deactivated."""

    key_salt = "keel.accounts.set_password"

    def _make_hash_value(self, user, timestamp):
        return f"{super()._make_hash_value(user, timestamp)}:{user.is_active}:{user.session_epoch}"


set_password_tokens = SetPasswordTokenGenerator()


def set_password_path(user):
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    return f"/set-password/{uid}/{set_password_tokens.make_token(user)}/"


def do_set_password(user, password, actor=None):
    check_password_strength(password, user)
    user.set_password(password)
    user.save(update_fields=["password"])
    record(user.company, actor or user, "user.password_set", user)
    return user


def do_change_password(user, current_password, new_password):
    if not user.check_password(current_password):
        raise InvalidInput("Your current password is not correct.", field="current_password", code="wrong_password")
    return do_set_password(user, new_password, actor=user)


# --- users --------------------------------------------------------------------------------------------------------


def role_of_company(company, role_id, field="role_id"):
    role = Role.objects.filter(company=company, pk=role_id).first()
    if role is None:
        raise InvalidInput("Choose one of the company's roles.", field=field, code="unknown_role")
    return role


def _require_admin_for_admin_changes(actor, *roles):
    # Without this, a user allowed to manage users could make anyone (themselves included) a Company Administrator.
    if actor is not None and any(r.is_company_admin for r in roles) and not actor.is_company_admin:
        raise Forbidden("Only a Company Administrator can grant, change or remove the Company Administrator role.")


def _lock_company(company_id):
    # Serialises changes of one company's administrators, so that two concurrent demotions cannot both pass the
    # last-admin check (SQLite already serialises every write transaction).
    Company.objects.select_for_update().filter(pk=company_id).first()


def _ensure_other_active_admin(user):
    others = User.objects.filter(company_id=user.company_id, is_active=True, role__kind=permissions.ADMIN)
    if not others.exclude(pk=user.pk).exists():
        raise Conflict(LAST_ADMIN_MESSAGE, code="last_admin")


def do_create_user(company, actor, email, name, role, password=None):
    """A user of ``company``. Without a password, they get an invitation e-mail with a set-password link."""
    if role.company_id != company.pk:
        raise InvalidInput("Choose one of the company's roles.", field="role_id", code="unknown_role")
    _require_admin_for_admin_changes(actor, role)
    email = clean_email(email)
    if password:
        check_password_strength(password, User(email=email, name=name or ""))
    try:
        with transaction.atomic():
            user = User.objects.create_user(
                email, password or None, company=company, role=role, name=(name or "").strip()[:120]
            )
            record(company, actor, "user.created", user, email=email, role=role.name, invited=not password)
            if not password:
                transaction.on_commit(lambda: send_invitation(user, actor))
    except IntegrityError:  # the same e-mail added at the same moment by someone else
        raise InvalidInput(
            "A user with this e-mail address already exists.", field="email", code="email_taken"
        ) from None
    return user


def send_invitation(user, actor):
    inviter = (actor.name or actor.email) if actor else "Your Company Administrator"
    send_email(
        user.email,
        f"You are invited to {user.company.name} on Keel",
        f"{inviter} invited you to {user.company.name} on Keel. Choose your password to log in "
        f"(the link works once, for {_link_validity()}):",
        set_password_path(user),
    )


def do_send_invitation(user, actor):
    """Sends (again) a link to set a password: for an invitation that expired, or a forgotten password."""
    if not user.is_active:
        raise InvalidInput("Reactivate the user before sending them a link.", code="user_inactive")
    send_invitation(user, actor)
    record(user.company_id, actor, "user.invited", user, email=user.email)
    return user


def _link_validity():
    days = max(1, settings.PASSWORD_RESET_TIMEOUT // 86400)
    return "1 day" if days == 1 else f"{days} days"


def do_change_user_role(user, role, actor):
    if role.company_id != user.company_id:
        raise InvalidInput("Choose one of the company's roles.", field="role_id", code="unknown_role")
    if role.pk == user.role_id:
        return user
    _require_admin_for_admin_changes(actor, user.role, role)
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


def do_deactivate_user(user, actor):
    """Ends the user's access at once: every session (session epoch) and every API token."""
    if actor is not None and actor.pk == user.pk:
        raise InvalidInput("You cannot deactivate yourself.", field="is_active", code="cannot_deactivate_self")
    _require_admin_for_admin_changes(actor, user.role)
    with transaction.atomic():
        _lock_company(user.company_id)
        user = User.objects.select_related("role").get(pk=user.pk)
        if not user.is_active:
            return user
        if user.role.is_company_admin:
            _ensure_other_active_admin(user)
        user.is_active = False
        user.session_epoch += 1
        user.save(update_fields=["is_active", "session_epoch"])
        revoked = ApiToken.objects.filter(user=user, revoked_at__isnull=True).update(revoked_at=timezone.now())
        record(user.company_id, actor, "user.deactivated", user, email=user.email, tokens_revoked=revoked)
    return user


def do_reactivate_user(user, actor):
    _require_admin_for_admin_changes(actor, user.role)
    if not user.is_active:
        user.is_active = True
        user.save(update_fields=["is_active"])
        record(user.company_id, actor, "user.reactivated", user, email=user.email)
    return user


def do_update_user(user, actor, role=None, is_active=None):
    """The API's PATCH: role and active state change together or not at all."""
    with transaction.atomic():
        if role is not None:
            user = do_change_user_role(user, role, actor)
        if is_active is False:
            user = do_deactivate_user(user, actor)
        elif is_active is True:
            user = do_reactivate_user(user, actor)
    return user


# --- roles --------------------------------------------------------------------------------------------------------


def check_permission_changes(role, changes):
    """Refuses unknown codes, admin-only permissions on other roles, and locking the administrators out."""
    for code, granted in changes.items():
        perm = permissions.PERMISSIONS_BY_CODE.get(code)
        if perm is None:
            raise InvalidInput(f"Unknown permission “{code}”.", field=f"permissions.{code}", code="unknown_permission")
        if granted and perm.admin_only and not role.is_company_admin:
            raise InvalidInput(
                f"“{perm.label}” can be granted to the Company Administrator role only.",
                field=f"permissions.{code}",
                code="permission_not_allowed_for_role",
            )
        if not granted and role.is_company_admin and code in permissions.ALWAYS_ON_FOR_ADMIN:
            raise InvalidInput(
                f"The Company Administrator role always keeps “{perm.label}”, so that the company cannot lock "
                "itself out.",
                field=f"permissions.{code}",
                code="permission_required_for_admin_role",
            )


def do_update_role_permissions(role, changes, actor):
    """Grant (True) or withdraw (False) permission codes. Codes not named keep their current state."""
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


def do_mark_notices_read(user):
    return Notice.objects.filter(user=user, read_at__isnull=True).update(read_at=timezone.now())
