"""Company deletion on a real worker process: killed with SIGKILL in the middle, then resumed to completion."""

import json
import os
import signal

import pytest
from django.test import Client

from keel.accounts.models import Company
from keel.datacontrol.company_deletion.tests.factories import (
    dump_company,
    rows_of_company,
    start_deletion,
    stored_files,
)
from keel.datacontrol.models import DeletionReceipt
from keel.datacontrol.tests.factories import add_bulk_contacts
from keel.testing import PASSWORD, ApiClient, fill_every_tenant_table, start_worker, stop_process, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

CONTACTS = 1500
EVENTS_PER_CONTACT = 4


def test_sigkill_in_the_middle_then_the_deletion_completes(company, other_company, admin, settings):
    fill_every_tenant_table(company)
    add_bulk_contacts(company, CONTACTS, EVENTS_PER_CONTACT)
    fill_every_tenant_table(other_company)
    add_bulk_contacts(other_company, CONTACTS, EVENTS_PER_CONTACT)
    other_api = ApiClient(other_company.admin)
    assert other_api.get("contacts").status_code == 200  # its token's first use is recorded before the dump
    other_before = dump_company(other_company.pk)
    old_token_api = ApiClient(admin)

    started = start_deletion(company, admin)
    receipt_pk = started.receipt.pk
    env = {
        "KEEL_FILES_DIR": settings.STORAGES["default"]["OPTIONS"].get("location", ""),
        "KEEL_DELETION_BATCH_ROWS": "5",
        "KEEL_JOB_LEASE_SECONDS": "2",
        "KEEL_JOB_HEARTBEAT_SECONDS": "0.2",
    }

    worker = start_worker(env)
    try:
        wait_for(
            lambda: DeletionReceipt.objects.filter(pk=receipt_pk, progress_done__gte=200).exists(),
            timeout=60,
            interval=0.02,
            what="the deletion to be under way",
        )
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        stop_process(worker)

    # Killed mid-run: partly deleted, and the company stays closed.
    receipt = DeletionReceipt.objects.get(pk=receipt_pk)
    assert receipt.state == "running" and 0 < receipt.progress_done < receipt.progress_total
    assert Company.objects.get(pk=company.pk).status == "deleting"
    assert rows_of_company(company.pk)
    assert old_token_api.get("company/deletion/preflight").status_code == 401
    login = Client().post(
        "/api/v1/auth/token", json.dumps({"email": admin.email, "password": PASSWORD}), content_type="application/json"
    )
    assert login.status_code == 403

    worker = start_worker(env)
    try:
        # Other companies keep working while the deletion runs.
        assert other_api.get("contacts").status_code == 200
        wait_for(
            lambda: DeletionReceipt.objects.filter(pk=receipt_pk, state="succeeded").exists(),
            timeout=120,
            interval=0.02,
            what="the resumed deletion to finish",
        )
    finally:
        stop_process(worker)

    assert not Company.objects.filter(pk=company.pk).exists()
    assert rows_of_company(company.pk) == {} and stored_files(company.pk) == {}
    assert dump_company(other_company.pk) == other_before
    receipt = DeletionReceipt.objects.get(pk=receipt_pk)
    assert receipt.rows_deleted["contacts"] == CONTACTS + 7
    assert receipt.rows_deleted["contact_events"] == CONTACTS * EVENTS_PER_CONTACT + 14
    assert receipt.files_deleted == 5
    assert receipt.progress_done == receipt.progress_total
