"""``keel delete-company SLUG [--yes]``: counts, the typed name, a progress bar in the foreground, the receipt."""

import io
import os
import subprocess
import sys
import threading
import time

import pytest
from django.core import mail
from django.core.management import CommandError, call_command
from django.db import connection

from keel import testing
from keel.accounts.models import Company
from keel.datacontrol.company_deletion import job as deletion_job
from keel.datacontrol.company_deletion.tests.factories import (
    make_company_data,
    rows_of_company,
    start_deletion,
    stored_files,
)
from keel.datacontrol.management.commands import delete_company
from keel.datacontrol.models import DeletionReceipt
from keel.jobs.models import DataJob
from keel.marketing.models import Campaign

pytestmark = pytest.mark.django_db(transaction=True)  # the progress bar reads from its own thread and connection


def run(*args, stdin=""):
    out = io.StringIO()
    call_command("delete_company", *args, stdin=io.StringIO(stdin), stdout=out)
    return out.getvalue()


def test_shows_counts_asks_for_the_name_and_refuses_a_wrong_one(company):
    make_company_data(company)
    out = io.StringIO()
    with pytest.raises(CommandError, match="does not match"):
        call_command("delete_company", company.slug, stdin=io.StringIO("acme\n"), stdout=out)
    printed = out.getvalue()
    assert "contacts" in printed and "contact events" in printed and "12" in printed
    assert "Type the company's name to confirm" in printed
    assert Company.objects.get(pk=company.pk).is_active
    assert not DeletionReceipt.objects.exists()


def test_typed_name_deletes_with_a_progress_bar_and_prints_the_receipt(company, other_company):
    make_company_data(company)
    make_company_data(other_company)
    printed = run(company.slug, stdin="Acme\n")
    receipt = DeletionReceipt.objects.get()
    assert receipt.state == "succeeded"
    assert "[##############################] 100 %" in printed
    assert "System confirmation" in printed
    assert f"Receipt ID: {receipt.receipt_id}" in printed and "Files deleted: 3" in printed
    assert "/deletion-status/" in printed
    assert rows_of_company(company.pk) == {} and stored_files(company.pk) == {}
    assert Company.objects.filter(pk=other_company.pk, status="active").exists()


def test_yes_skips_the_question(company):
    make_company_data(company)
    printed = run(company.slug, "--yes")
    assert "Type the company's name" not in printed
    assert not Company.objects.filter(pk=company.pk).exists()


def test_blockers_refuse(company):
    Campaign.objects.create(company=company, name="Live", status=Campaign.Status.SENDING)
    with pytest.raises(CommandError, match="Complete or stop active processes"):
        run(company.slug, "--yes")
    assert Company.objects.get(pk=company.pk).is_active


def test_unknown_slug(db):
    with pytest.raises(CommandError, match="No company has the slug"):
        run("nobody", "--yes")


def test_resumes_a_deletion_that_failed(company, admin):
    make_company_data(company)
    started = start_deletion(company, admin)
    DataJob.objects.filter(pk=started.job.pk).update(state=DataJob.State.FAILED, error="gave up")
    deletion_job.company_deletion_failed(DataJob.objects.get(pk=started.job.pk))
    assert DeletionReceipt.objects.get().state == "failed"
    printed = run(company.slug)
    assert "already being deleted; resuming" in printed
    assert DeletionReceipt.objects.get().state == "succeeded"
    assert rows_of_company(company.pk) == {}


def test_the_keel_command_itself(company, settings):
    """The console entry point, in its own process, on the test database."""
    make_company_data(company)
    env = {
        **os.environ,
        "DATABASE_URL": testing.test_database_url(),
        "KEEL_FILES_DIR": settings.STORAGES["default"]["OPTIONS"].get("location", ""),
    }
    done = subprocess.run(
        [sys.executable, "-m", "keel.cli", "delete-company", company.slug],
        input="Acme\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "System confirmation" in done.stdout and "Receipt ID:" in done.stdout
    assert rows_of_company(company.pk) == {} and stored_files(company.pk) == {}


def test_an_error_is_retried_after_a_pause_until_the_deletion_completes(company, admin, settings, monkeypatch):
    """The final step fails at first: the command says so, waits, tries again, and finishes once it works.
    (An unreachable mail server no longer fails the deletion: the confirmation waits in the job outbox.)"""
    monkeypatch.setattr(delete_company, "RETRY_PAUSE_SECONDS", 0.5)
    make_company_data(company)
    start_deletion(company, admin)
    attempts_while_down = []
    broken = threading.Event()
    broken.set()
    complete_receipt = deletion_job.CompanyDeletion.complete_receipt

    def final_step_broken_until_repaired(self, jobs_deleted):
        if broken.is_set():
            raise RuntimeError("the final step failed")
        return complete_receipt(self, jobs_deleted)

    monkeypatch.setattr(deletion_job.CompanyDeletion, "complete_receipt", final_step_broken_until_repaired)

    def repair_after_the_first_error():
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if DeletionReceipt.objects.filter(step=deletion_job.INTERRUPTED_STEP).exists():
                    job = DataJob.objects.get(kind=DataJob.Kind.COMPANY_DELETION)
                    attempts_while_down.append(job.attempts)
                    return
                time.sleep(0.02)
        finally:
            broken.clear()  # whatever happened here, the command must be able to finish
            connection.close()

    out, err = io.StringIO(), io.StringIO()
    watcher = threading.Thread(target=repair_after_the_first_error)
    watcher.start()
    call_command("delete_company", company.slug, stdout=out, stderr=err)
    watcher.join()

    assert attempts_while_down == [1]  # the first attempt failed, and the next one waited for the pause
    assert "An error interrupted the deletion (the log has the details); trying again in 0.5 s." in err.getvalue()
    assert "System confirmation" in out.getvalue()
    assert DeletionReceipt.objects.get().state == "succeeded"
    confirmations = [m for m in mail.outbox if m.subject.startswith("System confirmation")]
    assert [m.to for m in confirmations] == [[admin.email]]
