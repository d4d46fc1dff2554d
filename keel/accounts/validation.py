"""Checking what people type before an action stores it: e-mail addresses, passwords, roles, permission codes."""

from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from keel.accounts import permissions
from keel.accounts.models import Role, User
from keel.accounts.throttle import FailureThrottle
from keel.errors import InvalidInput

EMAIL_TAKEN_MESSAGE = "A user with this e-mail address already exists."
# "Taken" answers about addresses outside the company, per company: e-mail addresses are unique across Keel, so
# each one tells an administrator that an address has an account somewhere (docs/accounts.md, "Add a user").
EMAIL_TAKEN_THROTTLE = FailureThrottle(
    "email-taken-elsewhere", "KEEL_EMAIL_TAKEN_ANSWERS", "KEEL_EMAIL_TAKEN_WINDOW_SECONDS", defaults=(20, 86400)
)


def valid_email(email):
    email = (email or "").strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        raise InvalidInput(f"“{email}” is not a valid e-mail address.", field="email") from None
    return email


def email_taken():
    return InvalidInput(EMAIL_TAKEN_MESSAGE, field="email", code="email_taken")


def clean_email(email):
    email = valid_email(email)
    if User.objects.filter(email__iexact=email).exists():
        raise email_taken()
    return email


def clean_new_user_email(company, email):
    """The address of a user being added to ``company``. Whether an address outside the company is taken is
    answered a limited number of times a day per company, and once that is spent every address outside the
    company waits alike (free or taken), so that the wait itself tells nothing."""
    email = valid_email(email)
    if User.objects.filter(company=company, email__iexact=email).exists():
        raise email_taken()
    subject = f"company:{company.pk}"
    EMAIL_TAKEN_THROTTLE.ensure_allowed(
        subject, message="Too many addresses that already have an account were tried today.", field="email"
    )
    if User.objects.filter(email__iexact=email).exists():
        EMAIL_TAKEN_THROTTLE.count_failure(subject)
        raise email_taken()
    return email


def check_password_strength(password, user=None, field="password"):
    try:
        password_validation.validate_password(password, user)
    except ValidationError as exc:
        raise InvalidInput(" ".join(exc.messages), field=field, code="weak_password") from None


def role_of_company(company, role_id, field="role_id"):
    role = Role.objects.filter(company=company, pk=role_id).first()
    if role is None:
        raise InvalidInput("Choose one of the company's roles.", field=field, code="unknown_role")
    return role


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
