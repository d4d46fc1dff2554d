"""The one deletion run, shared by "Delete all CRM records" and company deletion.

A run plans once (what is to be deleted: the bar's total, and the floor of the final counts), erases the rows
children first in short batches (``eraser.erase_rows``), then the stored files one by one with the bar moving,
looks again, and repeats that for up to ``ERASE_ROUNDS`` rounds; then it finishes once. Every step can be run
again from the start after a crash anywhere: it only finds less to delete.

Each capability subclasses ``Deletion`` with its own model set, file folders, plan and final steps (the CRM
deletion's audit and notice, the company deletion's receipt and e-mails). docs/crm-deletion.md ("How it works") and
docs/company-deletion.md ("The deletion job") describe both from the outside.
"""

import logging
import time

from django.conf import settings
from django.core.files.storage import default_storage

from keel.datacontrol import eraser
from keel.storage import company_folder, walk_files

logger = logging.getLogger("keel.datacontrol")

# Rounds of "erase rows and files, then look again" before an attempt gives up and the job runner retries it.
ERASE_ROUNDS = 3


class DeletionIncomplete(Exception):
    """Rows or files of the company were still found after erasing (a write raced the start, or the final check
    found something): the attempt ends, nothing is reported deleted, and the job runner retries it."""


class DeletionProgress:
    """The job's ``ProgressReporter``, also counting what was deleted: rows per entity and files.

    The eraser advances and tallies it inside each batch's transaction, so the tally matches what really
    committed.
    """

    def __init__(self, progress, rows=None, files=0):
        self.progress = progress
        self.rows = rows if rows is not None else {}
        self.files = files

    @property
    def total(self):
        return self.progress.total

    @property
    def done(self):
        return self.progress.done

    def set_total(self, total):
        self.progress.set_total(total)

    def set_done(self, done):
        self.progress.set_done(done)

    def step(self, text):
        self.progress.step(text)

    def advance(self, n=1):
        self.progress.advance(n)

    def tally_rows(self, rows):
        """``{entity: n}`` of a batch the eraser just deleted (called in the batch's transaction)."""
        for entity, n in rows.items():
            self.rows[entity] = self.rows.get(entity, 0) + n

    def count_files(self, n):
        self.files += n
        self.advance(n)

    def save(self):
        self.progress.save()

    def checkpoint(self):
        self.progress.checkpoint()


class Deletion:
    """One run of a deletion job. ``run()`` is the whole of it; subclasses fill in the parts marked below."""

    # Where the stored files to delete are, under the company's folder (None: all of them), each with the step
    # shown while they go.
    folders = {None: "Deleting stored files"}
    # Files are deleted one at a time; the progress is stored (and the job's ownership checked) after this many,
    # or after ``seconds_per_save`` seconds if that is set, whichever comes first. A crash in between forgets at
    # most that many from the tally; the final counts are never below what the plan counted.
    files_per_save = 500
    seconds_per_save = None

    def __init__(self, job, tracker):
        self.job = job
        self.company_id = job.company_id
        self.tracker = tracker  # a DeletionProgress

    # --- for subclasses -----------------------------------------------------------------------------------------
    def models(self):
        """The tenant models whose rows of the company go (in any order)."""
        raise NotImplementedError

    def plan(self):
        """Count, once, what is to be deleted; a resumed run restores that count and the bar."""
        raise NotImplementedError

    def before_erasing(self):
        """What must happen before any row goes."""

    def finish(self):
        """The final step, once nothing is left: report, record, tell."""
        raise NotImplementedError

    # --- the run --------------------------------------------------------------------------------------------------
    def run(self):
        self.plan()
        self.before_erasing()
        self.erase()
        self.finish()

    def erase(self):
        """Rows, then files, then look again; up to ERASE_ROUNDS times."""
        for attempt in range(1, ERASE_ROUNDS + 1):
            self.erase_rows()
            self.erase_files()
            left = self.leftovers()
            if not left:
                return
            logger.warning("company %s: round %s of erasing left %s; erasing again", self.company_id, attempt, left)
        raise DeletionIncomplete(f"left after {ERASE_ROUNDS} rounds of erasing: {left}")

    def count_files(self):
        return sum(eraser.count_files(self.company_id, folder) for folder in self.folders)

    def leftovers(self):
        """What is still there: ``{entity: rows, ..., "files": n}`` without the zeros; ``{}`` means nothing."""
        left = eraser.remaining_rows(self.company_id, self.models())
        files = self.count_files()
        return {**left, "files": files} if files else left

    def erase_rows(self):
        """Children first, in batches sized by time (``eraser.erase_rows``), which tell the tally their tables."""
        eraser.erase_rows(self.company_id, self.models(), self.tracker, settings.KEEL_DELETION_BATCH_ROWS)

    def erase_files(self):
        """Every file of ``folders``, one at a time, so that the bar keeps moving while they go."""
        for folder, step in self.folders.items():
            self.tracker.step(step)
            unsaved, saved_at = 0, time.monotonic()
            # One folder listing in memory at a time, however many files there are.
            for name in walk_files(company_folder(self.company_id, folder)):
                default_storage.delete(name)
                self.tracker.count_files(1)
                unsaved += 1
                if unsaved >= self.files_per_save or self._save_is_due(saved_at):
                    self.save_progress()
                    unsaved, saved_at = 0, time.monotonic()
            # Whatever arrived meanwhile (nothing should write there), and the emptied folders of a local storage.
            self.tracker.count_files(eraser.erase_files(self.company_id, folder))
            self.save_progress()

    def _save_is_due(self, saved_at):
        return self.seconds_per_save is not None and time.monotonic() - saved_at >= self.seconds_per_save

    def save_progress(self):
        self.tracker.save()
        self.tracker.checkpoint()
