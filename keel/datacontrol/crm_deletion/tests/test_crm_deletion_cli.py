"""``keel delete-crm-records --company SLUG [--yes]``: counts, the same confirmation, the job in the foreground."""

import io
import os
import subprocess
import sys

import pytest
from django.core.management import CommandError, call_command

from keel import testing
from keel.audit.models import AuditEvent
from keel.datacontrol import eraser, graph
from keel.datacontrol.crm_deletion.actions import CONFIRMATION_TEXT
from keel.datacontrol.tests.factories import dump, make_crm_data
from keel.jobs.models import DataJob


def run(*args, answer=None):
    out, err = io.StringIO(), io.StringIO()
    stdin = io.StringIO(answer) if answer is not None else None
    call_command("delete_crm_records", *args, stdout=out, stderr=err, stdin=stdin)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def acme(company, other_company):
    make_crm_data(company)
    make_crm_data(other_company)
    return company


def test_shows_the_counts_and_the_confirmation_and_deletes_after_yes(acme, other_company):
    other_before = dump(other_company)
    out, err = run("--company", acme.slug, answer="yes\n")
    assert "removes 6 contacts, 18 history events and 33 other contact records" in out
    assert CONFIRMATION_TEXT in out
    assert "Type yes to delete" in out
    assert "100 %" in err  # the progress bar
    assert "Deleted 6 contacts, 18 history events and 33 other contact records." in out
    assert eraser.remaining_rows(acme.pk, graph.crm_models()) == {}
    assert eraser.remaining_files(acme.pk) == []
    assert dump(other_company) == other_before
    job = DataJob.objects.get(kind=DataJob.Kind.CRM_DELETION)
    assert job.state == DataJob.State.SUCCEEDED and job.requested_by is None
    assert AuditEvent.objects.get(action="crm.deleted_all").actor_label == "command line"


@pytest.mark.parametrize("answer", ["no\n", "\n", "y\n"])
def test_anything_but_yes_deletes_nothing(acme, answer):
    with pytest.raises(CommandError, match="Nothing was deleted"):
        run("--company", acme.slug, answer=answer)
    assert sum(eraser.count_rows(acme.pk, graph.crm_models()).values()) == 57
    assert not DataJob.objects.exists()


def test_yes_flag_skips_the_question(acme):
    out, _ = run("--company", acme.slug, "--yes")
    assert "Type yes" not in out
    assert eraser.remaining_rows(acme.pk, graph.crm_models()) == {}


def test_unknown_company_and_a_busy_company_are_refused(acme):
    with pytest.raises(CommandError, match="No company has the slug “nope”"):
        run("--company", "nope", "--yes")
    DataJob.objects.create(company=acme, kind=DataJob.Kind.IMPORT)
    with pytest.raises(CommandError, match="Another operation is in progress"):
        run("--company", acme.slug, "--yes")
    assert sum(eraser.count_rows(acme.pk, graph.crm_models()).values()) == 57


def test_a_running_deletion_is_followed_to_its_end(acme):
    DataJob.objects.create(company=acme, kind=DataJob.Kind.CRM_DELETION)  # queued, e.g. no worker running
    out, _ = run("--company", acme.slug)
    assert "already being deleted" in out
    assert eraser.remaining_rows(acme.pk, graph.crm_models()) == {}


@pytest.mark.django_db(transaction=True)
def test_the_keel_command_line_name(company, settings):
    make_crm_data(company, contacts=2, files=False)
    env = {**os.environ, "DATABASE_URL": testing.test_database_url()}
    done = subprocess.run(
        [sys.executable, "-m", "keel.cli", "delete-crm-records", "--company", company.slug],
        input="yes\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "Deleted 2 contacts" in done.stdout
    assert eraser.remaining_rows(company.pk, graph.crm_models()) == {}
