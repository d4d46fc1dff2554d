import io

import pytest
from django.core.management import CommandError, call_command

from keel.accounts.models import Company, Role, User
from keel.testing import ensure_plans, make_company


def create(*args):
    out = io.StringIO()
    call_command("createcompany", *args, stdout=out)
    return out.getvalue().strip()


def test_createcompany_prints_the_id(db):
    ensure_plans()
    company_id = create(
        "--name",
        "Initech",
        "--admin-email",
        "Boss@Initech.test",
        "--admin-password",
        "a long passphrase",
        "--plan",
        "enterprise",
    )
    company = Company.objects.get(pk=int(company_id))
    assert company.name == "Initech" and company.plan_id == "enterprise" and company.is_active
    admin = User.objects.get(email="boss@initech.test")
    assert admin.company == company and admin.role.is_company_admin and admin.check_password("a long passphrase")
    assert Role.objects.filter(company=company).count() == 3


def test_createcompany_defaults_to_standard(db):
    ensure_plans()
    company_id = create("--name", "Hooli", "--admin-email", "a@hooli.test", "--admin-password", "a long passphrase")
    assert Company.objects.get(pk=company_id).plan_id == "standard"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--name", "acme"], "A company named “acme” already exists."),
        (["--admin-email", "{taken}"], "A user with this e-mail address already exists."),
        (["--plan", "gold"], "Unknown plan “gold”. Choose one of: enterprise, free, standard."),
        (["--admin-email", "not-an-email"], "“not-an-email” is not a valid e-mail address."),
        (["--admin-password", "short"], "This password is too short."),
        (["--name", "  "], "The company name must not be empty."),
    ],
)
def test_createcompany_errors(company, args, message):
    values = {"--name": "Umbrella", "--admin-email": "boss@umbrella.test", "--admin-password": "a long passphrase"}
    values.update(dict(zip(args[::2], args[1::2], strict=True)))
    values = {k: v.format(taken=company.admin.email) for k, v in values.items()}
    count = Company.objects.count()
    with pytest.raises(CommandError) as error:
        create(*[part for pair in values.items() for part in pair])
    assert message in str(error.value)
    assert Company.objects.count() == count


def test_make_company_still_works_for_the_other_tests(db):
    company = make_company("Stark")
    assert company.admin.is_company_admin
