"""Small builders shared by the CRM and marketing tests."""

from keel.accounts.models import Role
from keel.contacts.models import Contact
from keel.jobs.models import DataJob


def revoke(company, permission, role_kind):
    role = Role.objects.get(company=company, kind=role_kind)
    role.permissions = [code for code in role.permissions if code != permission]
    role.save()
    return role


def make_contact(company, email, first_name="", last_name="", **fields):
    return Contact.objects.create(company=company, email=email, first_name=first_name, last_name=last_name, **fields)


def start_crm_deletion(company, requested_by=None):
    """A CRM deletion in progress for the company: a real job row in the running state."""
    return DataJob.objects.create(
        company=company, kind=DataJob.Kind.CRM_DELETION, state=DataJob.State.RUNNING, requested_by=requested_by
    )
