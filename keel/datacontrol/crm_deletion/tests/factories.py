"""Helpers shared by the CRM deletion tests (this module holds no tests)."""

from django.test import Client

from keel.datacontrol import eraser, graph
from keel.datacontrol.crm_deletion.actions import PERMISSION
from keel.datacontrol.tests.factories import non_crm_models
from keel.testing import grant

# Tables a deletion adds rows to (its job, its audit events, the requester's notice): compared by their old rows.
BOOKKEEPING = {"jobs.DataJob", "audit.AuditEvent", "accounts.Notice"}


def allow(company):
    return grant(company, PERMISSION)


def logged_in(user):
    client = Client()
    client.force_login(user)
    return client


def crm_left(company):
    return eraser.remaining_rows(company.pk, graph.crm_models())


def kept_tables():
    return [m for m in non_crm_models() if graph.label(m) not in BOOKKEEPING]


def old_rows_unchanged(before, after):
    return all(after[label][: len(rows)] == rows for label, rows in before.items() if label in BOOKKEEPING)
