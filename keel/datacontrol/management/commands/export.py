"""``keel export --company SLUG [--scope ...] --out FILE``: the exporter in the foreground, with a progress bar."""

import os

from django.core.management.base import BaseCommand, CommandError

from keel.accounts.models import Company
from keel.audit.actions import record
from keel.datacontrol import exporter
from keel.jobs.cli import BarProgress, ProgressBar


class Command(BaseCommand):
    help = (
        "Export a company's data into a Keel export archive (the same archive as Settings → Data Management → "
        "Export Data), in the foreground."
    )

    def add_arguments(self, parser):
        parser.add_argument("--company", required=True, metavar="SLUG", help="the company's slug")
        parser.add_argument(
            "--scope",
            nargs="+",
            metavar="SCOPE",
            help=f"what to export (default: everything): {', '.join(exporter.SCOPES)}; "
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

        progress = None if no_progress else BarProgress(ProgressBar(self.stderr))
        partial = f"{out}.partial"  # the archive appears under its name only once it is complete
        try:
            with open(partial, "wb") as handle:
                written = exporter.write_archive(company_obj, chosen, handle, progress=progress, batch_size=batch_size)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(partial, out)
        except BaseException:
            if os.path.exists(partial):
                os.remove(partial)
            raise
        if progress:
            progress.finish()
        record(company_obj, "command line", "export.command_line", None, scope=chosen, sha256=written.sha256)
        self._summary(out, written)

    def _scope(self, scope):
        names = None if not scope else [part.strip() for item in scope for part in item.split(",") if part.strip()]
        try:
            chosen = exporter.normalize_scope(names)
        except ValueError as exc:
            unknown = ", ".join(exc.args[0])
            raise CommandError(f"Unknown scope {unknown}. Choose from: {', '.join(exporter.SCOPES)}.") from None
        if not chosen:
            raise CommandError("Choose at least one scope.")
        return chosen

    def _summary(self, out, written):
        self.stdout.write(f"Wrote {out}: {written.size} bytes, SHA-256 {written.sha256}")
        for entity, rows in written.row_counts.items():
            self.stdout.write(f"  {entity}.csv: {rows} rows")
