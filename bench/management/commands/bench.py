"""``keel bench generate …`` and ``keel bench run …``: the benchmark suite in bench/ (docs/benchmarks.md)."""

import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from bench import generator, report, suite


def sizes_argument(text):
    try:
        sizes = [int(part.replace("_", "").replace(",", "")) for part in text.split()]
    except ValueError:
        raise CommandError(
            f"--sizes takes whole numbers of contacts, e.g. --sizes 10000 100000; got “{text}”."
        ) from None
    if not sizes or min(sizes) < 1:
        raise CommandError("--sizes needs at least one size of 1 contact or more.")
    return sizes


class Command(BaseCommand):
    help = (
        "Benchmarks of export, deletion and import at scale: `bench generate` builds a data set, `bench run` measures."
    )

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        gen = sub.add_parser("generate", help="build one large company and smaller ones on the configured database")
        gen.add_argument("--contacts", type=int, default=1_000_000)
        gen.add_argument("--events-per-contact", type=int, default=5)
        gen.add_argument("--other-companies", type=int, default=2, help="each a tenth of the large one's size")
        gen.add_argument("--seed", type=int, default=1)
        gen.add_argument("--replace", action="store_true", help="first remove the companies an earlier run made")
        run = sub.add_parser("run", help="run every scenario with its baselines and write table, JSON and picture")
        run.add_argument("--quick", action="store_true", help="every scenario at a small size (about a minute)")
        run.add_argument("--sizes", nargs="+", help="tenant sizes in contacts (default 10000 100000 1000000)")
        run.add_argument("--events-per-contact", type=int)
        run.add_argument("--other-companies", type=int)
        run.add_argument("--naive-max", type=int, help="contacts of the copy the naive Django deletions run on")
        run.add_argument(
            "--only",
            nargs="+",
            metavar="SCENARIO",
            help="run only these (contacts_page contacts_listing export restore import crm_deletion "
            "company_deletion); their results replace the same ones in the results file",
        )
        run.add_argument("--out", help="results file (default bench/results/latest.json; --quick: the data folder)")
        run.add_argument("--svg", help="picture file (default: beside the results file)")
        again = sub.add_parser("report", help="print the table of a results file again and redraw its picture")
        again.add_argument("--out", help="results file (default bench/results/latest.json)")
        again.add_argument("--svg", help="picture file (default: beside the results file)")
        for p in (run, again):
            p.add_argument("--markdown", action="store_true", help="print the tables as Markdown")

    def handle(self, action, **options):
        if action == "generate":
            return self.generate(**options)
        if action == "report":
            return self.report(options.get("out"), options.get("svg"), options["markdown"])
        return self.run(**options)

    def generate(self, contacts, events_per_contact, other_companies, seed, replace, **_):
        if contacts < 0 or events_per_contact < 0 or other_companies < 0:
            raise CommandError("--contacts, --events-per-contact and --other-companies must not be negative.")
        try:
            suite.ensure_benchmark_database()
        except suite.ChildFailed as exc:
            raise CommandError(str(exc)) from None
        if replace:
            generator.wipe_bench_companies()
        elif generator.bench_companies().exists():
            raise CommandError("Benchmark companies already exist here; add --replace to build them anew.")
        started = time.perf_counter()
        specs = [(generator.company_name(contacts, 0), contacts, seed)] + [
            (generator.company_name(contacts, i), max(1, contacts // 10), seed + 100 + i)
            for i in range(1, other_companies + 1)
        ]
        for name, size, company_seed in specs:

            def show(done, total, name=name):
                self.stdout.write(f"\r{name}: {done:,} of {total:,} contacts", ending="")
                self.stdout.flush()

            made = generator.generate_company(name, size, events_per_contact, seed=company_seed, progress=show)
            self.stdout.write(
                f"\r{name} (id {made.company_id}, slug {made.slug}): {made.contacts:,} contacts, "
                f"{made.total_rows:,} rows in {made.seconds:.1f} s ({made.total_rows / made.seconds:,.0f} rows/s)"
            )
        generator.analyze()
        self.stdout.write(f"Done in {time.perf_counter() - started:.1f} s.")

    def run(self, quick, sizes, events_per_contact, other_companies, naive_max, only, out, svg, markdown, **_):
        chosen = sizes_argument(" ".join(sizes)) if sizes else None
        options = (
            suite.Options.quick_defaults(chosen) if quick else suite.Options(**({"sizes": chosen} if chosen else {}))
        )
        for name, value in (
            ("events_per_contact", events_per_contact),
            ("other_companies", other_companies),
            ("naive_max", naive_max),
        ):
            if value is not None:
                if value < 0:
                    raise CommandError(f"--{name.replace('_', '-')} must not be negative.")
                setattr(options, name, value)
        unknown = sorted(set(only or ()) - set(suite.GROUPS))
        if unknown:
            raise CommandError(f"Unknown scenario {', '.join(unknown)}; choose from {', '.join(suite.GROUPS)}.")
        options.only = list(only or ())
        default_out = Path(settings.DATA_DIR) / "bench-quick.json" if quick else suite.RESULTS_DIR / "latest.json"
        out = Path(out) if out else default_out
        svg = Path(svg) if svg else out.with_name("throughput.svg" if not quick else "bench-quick.svg")
        try:
            result = suite.Suite(options, log=lambda line: self.stdout.write(line)).run_all()
        except suite.ChildFailed as exc:
            raise CommandError(str(exc)) from None
        doc = report.merge(out, result, partial=bool(options.only))
        report.write_svg(doc, svg)
        self.stdout.write(report.markdown(doc) if markdown else report.text_table(doc))
        self.stdout.write(f"\nResults: {out}\nPicture: {svg}")

    def report(self, out, svg, markdown):
        out = Path(out) if out else suite.RESULTS_DIR / "latest.json"
        doc = report.load(out)
        if not doc.get("runs"):
            raise CommandError(f"No results in {out}; run `keel bench run` first.")
        report.write_svg(doc, Path(svg) if svg else out.with_name("throughput.svg"))
        self.stdout.write(report.markdown(doc) if markdown else report.text_table(doc))
