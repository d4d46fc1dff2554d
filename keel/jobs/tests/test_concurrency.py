"""Real concurrency on PostgreSQL: of two simultaneous starts of exclusive jobs for one company, exactly one wins.

Each attempt runs in its own thread with its own database connection; the first insert holds its transaction
open a moment, so the second insert really meets it in the partial unique index.
"""

import threading
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction

from keel.jobs.models import DataJob
from keel.jobs.runner import OperationInProgress
from keel.jobs.tasks import create_job
from keel.testing import ApiClient

pytestmark = [pytest.mark.postgres]


def race(*attempts):
    """Run the callables at the same instant, each in its own thread and connection; return their outcomes."""
    barrier = threading.Barrier(len(attempts))
    outcomes = [None] * len(attempts)

    def run(i, attempt):
        try:
            barrier.wait(timeout=10)
            outcomes[i] = attempt()
        except Exception as exc:  # reported, and asserted on, by the test
            outcomes[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, a)) for i, a in enumerate(attempts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


def start_and_linger(company, kind):
    def attempt():
        with transaction.atomic():
            job = create_job(company, kind, company.admin)
            time.sleep(0.3)  # still uncommitted while the other thread inserts
        return job

    return attempt


@pytest.mark.parametrize(
    "kinds",
    [
        (DataJob.Kind.IMPORT, DataJob.Kind.IMPORT),
        (DataJob.Kind.IMPORT, DataJob.Kind.CRM_DELETION),
        (DataJob.Kind.CRM_DELETION, DataJob.Kind.COMPANY_DELETION),
    ],
)
def test_two_simultaneous_starts_exactly_one_wins(transactional_db, company, other_company, kinds):
    for _round in range(3):
        outcomes = race(*(start_and_linger(company, kind) for kind in kinds), start_and_linger(other_company, kinds[0]))
        mine, theirs = outcomes[:2], outcomes[2]
        winners = [o for o in mine if isinstance(o, DataJob)]
        losers = [o for o in mine if isinstance(o, OperationInProgress)]
        assert len(winners) == 1 and len(losers) == 1, outcomes
        assert losers[0].extra["job_id"] == winners[0].pk
        assert isinstance(theirs, DataJob)  # another company is never in the way
        active = DataJob.objects.filter(company=company, state__in=DataJob.ACTIVE_STATES)
        assert list(active.values_list("pk", flat=True)) == [winners[0].pk]
        DataJob.objects.update(state=DataJob.State.SUCCEEDED)  # free the slots for the next round


def test_two_simultaneous_import_requests_one_is_accepted_one_refused(transactional_db, company, settings):
    clients = [ApiClient(company.admin), ApiClient(company.admin)]

    def post(client, n):
        def attempt():
            upload = SimpleUploadedFile(f"c{n}.csv", f"email\nperson{n}@example.com\n".encode())
            return client.upload("imports", {"file": upload})

        return attempt

    responses = race(post(clients[0], 0), post(clients[1], 1))
    codes = sorted(r.status_code for r in responses)
    assert codes == [202, 409], [r.content for r in responses]
    refused = next(r for r in responses if r.status_code == 409).json()["error"]
    accepted = next(r for r in responses if r.status_code == 202).json()["job"]
    assert refused["code"] == "operation_in_progress" and refused["job_id"] == accepted["id"]
    assert DataJob.objects.filter(company=company, kind="import").count() == 1
