"""State changes of companies, users, roles and tokens. Views, API and CLI all call these (``do_*``)."""

from django.db import transaction
from django.utils.text import slugify

from keel.accounts import permissions
from keel.accounts.models import ApiToken, Company, Plan, Role, User
from keel.audit.actions import record
from keel.errors import InvalidInput


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
    if User.objects.filter(email__iexact=admin_email).exists():
        raise InvalidInput("A user with this e-mail address already exists.", field="email", code="email_taken")
    try:
        plan_obj = Plan.objects.get(code=plan)
    except Plan.DoesNotExist:
        raise InvalidInput(f"Unknown plan “{plan}”.", field="plan") from None
    company = Company.objects.create(name=name, slug=unique_slug(name), plan=plan_obj)
    roles = create_builtin_roles(company)
    admin = User.objects.create_user(
        admin_email, admin_password, company=company, role=roles[permissions.ADMIN], name=admin_name
    )
    record(company, admin, "company.created", company, plan=plan)
    return company, admin


def do_create_api_token(user, name):
    token, raw = ApiToken.issue(user, name or "API token")
    record(user.company, user, "api_token.created", token, name=token.name, prefix=token.prefix)
    return token, raw
