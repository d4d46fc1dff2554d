import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from keel.contacts.models import (
    Attachment,
    Contact,
    ContactEvent,
)
from keel.datacontrol import eraser, graph
from keel.datacontrol.tests.factories import dump, make_crm_data, non_crm_models
from keel.jobs.progress import NoProgress
from keel.testing import make_company, make_user


class InterruptAfter:
    """A progress reporter that crashes the run inside its n-th batch (as a killed worker would)."""

    def __init__(self, batches, on_batch=None):
        self.batches = batches
        self.on_batch = on_batch
        self.seen = 0
        self.done = 0
        self.last = 0
        self.sizes = []  # rows deleted by each batch, in order

    def step(self, text):
        pass

    def advance(self, n):
        self.done += n
        self.last = n
        self.sizes.append(n)

    def save(self):
        pass

    def checkpoint(self):
        self.seen += 1
        if self.on_batch:
            self.on_batch(self.seen)
        if self.seen == self.batches:
            raise RuntimeError("worker died")


@pytest.fixture
def two_companies(db):
    acme, globex = make_company("Acme"), make_company("Globex")
    for company in (acme, globex):
        make_user(company, "member")
        make_crm_data(company)
    return acme, globex


def test_count_rows_counts_each_entity_of_the_company_only(two_companies):
    acme, _ = two_companies
    counts = eraser.count_rows(acme.pk, graph.crm_models())
    assert counts == {
        "contacts": 6,
        "contact_events": 18,
        "notes": 6,
        "contact_tags": 6,
        "list_memberships": 6,
        "attachments": 3,
        "campaign_recipients": 6,
        "workflow_enrollments": 6,
    }


def test_erasing_one_companys_crm_leaves_the_other_company_identical(two_companies):
    acme, globex = two_companies
    globex_before = dump(globex)
    acme_kept_before = dump(acme, non_crm_models())
    counted = eraser.count_rows(acme.pk, graph.crm_models())

    deleted = eraser.erase_rows(acme.pk, graph.crm_models(), batch_size=4)

    assert deleted == counted
    assert eraser.remaining_rows(acme.pk, graph.crm_models()) == {}
    assert dump(globex) == globex_before
    assert dump(acme, non_crm_models()) == acme_kept_before


def test_erase_rows_goes_children_first_in_batches_that_report_progress(two_companies):
    acme, _ = two_companies
    progress = InterruptAfter(batches=0)  # never interrupts
    deleted = eraser.erase_rows(acme.pk, graph.crm_models(), progress=progress, batch_size=5)
    assert progress.done == sum(deleted.values()) == 57
    # Never more than 5 rows in one transaction, each batch reported (and checkpointed) once.
    assert max(progress.sizes) == 5 and len(progress.sizes) == progress.seen >= 57 / 5


def test_a_small_company_goes_in_one_transaction_across_its_tables(two_companies):
    """The fixed cost of a batch is paid once for a small company, not once per table."""
    acme, globex = two_companies
    globex_before = dump(globex)
    progress = InterruptAfter(batches=0)
    deleted = eraser.erase_rows(acme.pk, graph.crm_models(), progress=progress)
    assert progress.sizes == [57] and sum(deleted.values()) == 57
    assert eraser.remaining_rows(acme.pk, graph.crm_models()) == {}
    assert dump(globex) == globex_before


def test_the_tally_of_a_batch_across_tables_names_each_table(two_companies):
    from keel.datacontrol.deletion import DeletionProgress

    acme, _ = two_companies
    counted = eraser.count_rows(acme.pk, graph.crm_models())
    tracker = DeletionProgress(NoProgress())
    eraser.erase_rows(acme.pk, graph.crm_models(), progress=tracker, batch_size=7)
    assert tracker.rows == {entity: n for entity, n in counted.items() if n} and tracker.done == 57


@pytest.mark.parametrize("crash_in_batch", [1, 3, 6, 11, 17])
def test_a_run_interrupted_mid_way_then_rerun_ends_in_the_same_state(two_companies, crash_in_batch):
    acme, globex = two_companies
    globex_before = dump(globex)
    acme_kept_before = dump(acme, non_crm_models())
    total = sum(eraser.count_rows(acme.pk, graph.crm_models()).values())

    progress = InterruptAfter(crash_in_batch)
    with pytest.raises(RuntimeError):
        eraser.erase_rows(acme.pk, graph.crm_models(), progress=progress, batch_size=3)
    # The crashed batch rolled back: what is left is exactly what the committed batches did not delete.
    left = sum(eraser.remaining_rows(acme.pk, graph.crm_models()).values())
    assert 0 < left and total - left == progress.done - progress.last

    rerun = eraser.erase_rows(acme.pk, graph.crm_models(), batch_size=3)

    assert sum(rerun.values()) == left
    assert eraser.remaining_rows(acme.pk, graph.crm_models()) == {}
    assert dump(globex) == globex_before
    assert dump(acme, non_crm_models()) == acme_kept_before


def test_rows_inserted_behind_the_batch_boundary_are_caught(two_companies):
    acme, _ = two_companies
    first_event = ContactEvent.objects.filter(company=acme).order_by("id").first()
    values = {"contact_id": first_event.contact_id, "kind": "late", "title": "written while deleting"}

    inserted = []

    def insert_behind_boundary(batch):
        events = ContactEvent.objects.filter(company=acme)
        # Events are being deleted: the first ones are gone, later ones are still there.
        if not inserted and events.exists() and not events.filter(pk=first_event.id).exists():
            inserted.append(ContactEvent.objects.create(id=first_event.id, company=acme, **values))

    deleted = eraser.erase_rows(
        acme.pk, graph.crm_models(), progress=InterruptAfter(0, insert_behind_boundary), batch_size=3
    )
    assert inserted and deleted["contact_events"] == 19
    assert eraser.remaining_rows(acme.pk, graph.crm_models()) == {}


def test_erasing_every_tenant_table_handles_nullable_user_references(two_companies):
    """Company deletion erases users too: notes, campaigns and audit events pointing at them go first."""
    acme, globex = two_companies
    globex_before = dump(globex)
    eraser.erase_rows(acme.pk, graph.tenant_models(), batch_size=2)
    assert eraser.remaining_rows(acme.pk, graph.tenant_models()) == {}
    assert dump(globex) == globex_before


def test_erase_rows_of_a_company_without_rows_is_harmless(db):
    lonely = make_company("Lonely")
    assert eraser.erase_rows(lonely.pk, graph.crm_models()) == {
        graph.entity_name(m): 0 for m in graph.deletion_order(graph.crm_models())
    }


def test_erase_rows_rejects_a_batch_size_below_one(db):
    with pytest.raises(ValueError):
        eraser.erase_rows(1, graph.crm_models(), batch_size=-1)


def test_erase_files_removes_one_subfolder_or_everything_and_is_idempotent(two_companies):
    acme, globex = two_companies
    default_storage.save(f"companies/{acme.pk}/exports/archive.zip", ContentFile(b"zip"))
    attachments = [a.file.name for a in Attachment.objects.filter(company=acme)]
    globex_files = eraser.remaining_files(globex.pk)
    assert len(attachments) == 3 and all(default_storage.exists(name) for name in attachments)

    assert eraser.erase_files(acme.pk, "attachments") == 3
    assert not any(default_storage.exists(name) for name in attachments)
    assert eraser.remaining_files(acme.pk) == [f"companies/{acme.pk}/exports/archive.zip"]
    assert eraser.erase_files(acme.pk, "attachments") == 0

    assert eraser.erase_files(acme.pk) == 1
    assert eraser.remaining_files(acme.pk) == []
    assert eraser.erase_files(acme.pk) == 0
    assert eraser.remaining_files(globex.pk) == globex_files != []


def test_the_batch_budget_shrinks_on_slow_batches_but_never_below_its_floor_and_grows_back():
    from keel.datacontrol.eraser import BatchBudget

    budget = BatchBudget([ContactEvent], batch_size=50_000, target_seconds=0.04)
    for _ in range(30):  # a machine slowed by I/O: every batch far over the target
        budget.measured({ContactEvent: budget.rows(ContactEvent, {})}, 5.0)
    assert budget.rows(ContactEvent, {}) == BatchBudget.MINIMUM_BATCH
    for _ in range(60):  # the machine recovers
        budget.measured({ContactEvent: budget.rows(ContactEvent, {})}, 0.001)
    assert budget.rows(ContactEvent, {}) == 50_000


def test_the_batch_budget_shares_one_transaction_between_tables_by_their_cost():
    from keel.datacontrol.eraser import BatchBudget

    budget = BatchBudget([ContactEvent, Contact], batch_size=50_000, target_seconds=0.04)
    # Until a table is measured, a batch takes a cautious share of it: fewer rows of a table others reference.
    assert budget.rows(Contact, {}) < budget.rows(ContactEvent, {}) == BatchBudget.FIRST_ROWS
    budget.measured({ContactEvent: 2000}, 0.004)
    budget.measured({Contact: budget.rows(Contact, {})}, 0.01)
    alone = budget.rows(Contact, {})
    assert 0 < budget.rows(Contact, {ContactEvent: 5_000}) < alone
    # Measured, a contact still costs more than an event (it is referenced by many tables), so fewer fit.
    assert alone < budget.rows(ContactEvent, {})
    # A full batch takes nothing more; the first table of a batch always gets the floor.
    assert budget.rows(Contact, {ContactEvent: 10**6}) == 0
    budget.measured({Contact: alone}, 50.0)
    assert budget.rows(Contact, {}) >= BatchBudget.MINIMUM_BATCH


def _plan(company_id):
    from django.db import connection

    sql = "SELECT COUNT(*) FROM contacts_contactevent WHERE company_id = %s"
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"EXPLAIN {sql}", [company_id])
        else:
            cursor.execute(f"EXPLAIN QUERY PLAN {sql.replace('%s', '?')}", [company_id])
        return " ".join(str(cell) for row in cursor.fetchall() for cell in row)


def test_the_last_transaction_of_a_deletion_reads_the_company_through_its_indexes(two_companies):
    from django.db import connection, transaction

    acme, _ = two_companies
    with transaction.atomic():
        eraser.prefer_index_scans()
        plan = _plan(acme.pk)
    if connection.vendor == "postgresql":
        assert "Seq Scan" not in plan and "Index" in plan, plan
    else:
        assert "USING" in plan and "INDEX" in plan, plan
