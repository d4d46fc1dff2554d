"""``keel export --company SLUG [--scope ...] --out FILE``: an export run in the foreground, with a progress bar."""

import io
import os
import shutil

from django.core.management.base import BaseCommand, CommandError

from keel.accounts.models import Company
from keel.datacontrol.actors import COMMAND_LINE
from keel.datacontrol.export.actions import do_open_export_download, do_start_export
from keel.datacontrol.export.scopes import SCOPES, normalize_scope
from keel.errors import KeelError
from keel.jobs.cli import run_in_foreground
from keel.jobs.models import DataJob


def export_progress(job):
    """The bar of an export: a float percent, and "rows done/rows in all" before the step."""
    if job.state == DataJob.State.SUCCEEDED:
        percent = 100.0
    else:
        percent = min(100.0, job.progress_done * 100 / job.progress_total) if job.progress_total else 0.0
    return percent, f"{job.progress_done}/{job.progress_total}  {job.step}"


class Command(BaseCommand):
    help = (
        "Export a company's data into a Keel export archive (the same export as Settings → Data Management → "
        "Export Data, listed in the company's export history), in the foreground, and copy it to FILE."
    )

    def add_arguments(self, parser):
        parser.add_argument("--company", required=True, metavar="SLUG", help="the company's slug")
        parser.add_argument(
            "--scope",
            nargs="+",
            metavar="SCOPE",
            help=f"what to export (default: everything): {', '.join(SCOPES)}; "
            "several may be given, separated by spaces or commas",
        )
        parser.add_argument("--out", required=True, metavar="FILE", help="where to write the ZIP archive")
        parser.add_argument("--force", action="store_true", help="replace FILE if it exists")
        parser.add_argument("--batch-size", type=int, default=None, help="rows read per query")
        parser.add_argument("--no-progress", action="store_true", help="do not draw the progress bar")

    def handle(self, company, scope, out, force, batch_size, no_progress, **options):
        company_obj = Company.objects.filter(slug=company).first()
        if company_obj is None:
            raise CommandError(f"No company has the slug “{company}”.")
        chosen = self._scope(scope)
        if os.path.exists(out) and not force:
            raise CommandError(f"{out} already exists. Choose another file or add --force to replace it.")
        folder = os.path.dirname(os.path.abspath(out))
        if not os.path.isdir(folder):
            raise CommandError(f"The folder {folder} does not exist.")
        try:
            archive = do_start_export(company_obj, chosen, actor=COMMAND_LINE, batch_size=batch_size)
        except KeelError as exc:
            raise CommandError(exc.message) from None
        stream = io.StringIO() if no_progress else self.stderr
        job = run_in_foreground(archive.job, stream, describe=export_progress)
        if job.state != DataJob.State.SUCCEEDED:
            raise CommandError(f"The export ended {job.state}: {job.error or job.outcome}")
        archive.refresh_from_db()
        self._copy(archive, out)
        self._summary(out, archive)

    def _scope(self, scope):
        names = None if not scope else [part.strip() for item in scope for part in item.split(",") if part.strip()]
        try:
            chosen = normalize_scope(names)
        except ValueError as exc:
            unknown = ", ".join(exc.args[0])
            raise CommandError(f"Unknown scope {unknown}. Choose from: {', '.join(SCOPES)}.") from None
        if not chosen:
            raise CommandError("Choose at least one scope.")
        return chosen

    def _copy(self, archive, out):
        """The published archive, copied to ``out``; the file appears under its name only once it is complete."""
        partial = f"{out}.partial"
        try:
            with do_open_export_download(archive, actor=COMMAND_LINE) as source, open(partial, "wb") as target:
                shutil.copyfileobj(source, target, 1024 * 1024)
                target.flush()
                os.fsync(target.fileno())
            os.replace(partial, out)
        except BaseException:
            if os.path.exists(partial):
                os.remove(partial)
            raise

    def _summary(self, out, archive):
        self.stdout.write(f"Wrote {out}: {archive.size} bytes, SHA-256 {archive.sha256}")
        for entity, rows in archive.row_counts.items():
            self.stdout.write(f"  {entity}.csv: {rows} rows")
