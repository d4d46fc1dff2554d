"""``keel bench run``: every scenario at every tenant size, side by side with its baselines, on the configured
database. Each measured piece runs in its own process (bench.child); this process only orchestrates, serves the
pages through the real HTTP stack (``keel runserver``, as ``keel serve`` does) and writes the results.
"""

import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.db import connection

from bench import generator, listing
from bench.scenarios import SCENARIOS, SCRATCH_FOLDER, company_and_admin
from bench.targets import ratios, targets

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
PAGE_SIZE = 50  # keel/contacts/views.py shows 50 contacts per page
DEEP_PAGE = 1000
GROUPS = ("contacts_page", "contacts_listing", "export", "restore", "import", "crm_deletion", "company_deletion")


@dataclass
class Options:
    sizes: list = field(default_factory=lambda: [10_000, 100_000, 1_000_000])
    events_per_contact: int = 5
    other_companies: int = 2
    naive_max: int = 50_000  # the naive Django deletions run on a copy of at most this many contacts
    page_requests: int = 200
    listing_repeats: int = 30  # timings of each first and deep page of the contacts listing (scenario 8)
    idle_requests: int = 300
    think_ms: int = 20  # pause between two page views of the other tenant: a person clicking, not a flood
    # Each deletion scenario (Keel and baselines alike) runs this many times, each on a fresh copy of the tenant,
    # and the run of median time is kept: a small tenant's deletion takes a fraction of a second, which one busy
    # moment of a shared machine can double.
    deletion_repeats: int = 1
    quick: bool = False
    only: list = field(default_factory=list)  # scenario groups to run (default: all of GROUPS)

    def wants(self, group):
        return not self.only or group in self.only

    @classmethod
    def quick_defaults(cls, sizes=None):
        return cls(
            sizes=sizes or [1000],
            events_per_contact=5,
            other_companies=1,
            naive_max=1000,
            page_requests=15,
            listing_repeats=5,
            idle_requests=30,
            think_ms=10,
            deletion_repeats=3,
            quick=True,
        )


class ChildFailed(Exception):
    pass


class Suite:
    def __init__(self, options, log=print):
        self.options = options
        self.log = log
        self.vendor = connection.vendor
        self.workdir = Path(tempfile.mkdtemp(prefix="keel-bench-", dir=settings.DATA_DIR))
        self.company_probe = None  # the other tenant's page loop of the company deletion scenario, once set up
        if options.quick:
            os.environ["KEEL_BENCH_QUICK"] = "1"  # read by bench.db here and in every scenario process

    # --- processes -------------------------------------------------------------------------------------------
    def child_env(self):
        env = dict(os.environ)
        env["DJANGO_SETTINGS_MODULE"] = "keel.settings"
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(settings.BASE_DIR), env.get("PYTHONPATH")]))
        env["DATABASE_URL"] = database_url()
        env["KEEL_DATA_DIR"] = str(settings.DATA_DIR)
        env["KEEL_FILES_DIR"] = settings.STORAGES["default"]["OPTIONS"].get("location", settings.FILES_DIR)
        env["KEEL_EXPORTS_PER_DAY"] = "1000000"  # each size exports several times; the daily limit is not measured
        env.setdefault("KEEL_LOG_LEVEL", "WARNING")
        return env

    def start_child(self, scenario, **params):
        number = len(list(self.workdir.iterdir()))
        params_file = self.workdir / f"{number:03d}-{scenario}.json"
        params = {"scenario": scenario, "out": str(params_file.with_suffix(".out.json")), **params}
        params_file.write_text(json.dumps(params))
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.child", str(params_file)], cwd=settings.BASE_DIR, env=self.child_env()
        )
        process.bench_out = Path(params["out"])
        process.bench_scenario = scenario
        return process

    def finish_child(self, process, required=True):
        process.wait()
        try:
            result = json.loads(process.bench_out.read_text())
        except (OSError, ValueError):
            result = {"ok": False, "error": f"the {process.bench_scenario} process died (exit {process.returncode})"}
        if result.get("seconds"):
            result["rows_per_s"] = round(result["rows"] / result["seconds"], 1)
        if not result["ok"] and required:
            raise ChildFailed(f"{process.bench_scenario}: {result['error']}")
        return result

    def housekeeping(self, scenario, **params):
        """Unmeasured preparation (building, removing data) runs in this process: it must succeed."""
        started = time.perf_counter()
        try:
            result = SCENARIOS[scenario](params)
        finally:
            connection.close()  # hold no connection (nor, on SQLite, any lock) while the measured processes run
        self.log(f"    ({scenario} {time.perf_counter() - started:.1f} s)")
        return result

    def run(self, scenario, required=False, **params):
        """Run one measured scenario in its own process. One that fails is reported as failed in the results and
        the suite carries on."""
        started = time.perf_counter()
        result = self.finish_child(self.start_child(scenario, **params), required=required)
        if result.get("ok"):
            shown = f"{result.get('rows_per_s', 0):>12,.0f} rows/s" if result.get("rows") else ""
            self.log(
                f"    {scenario:<22} {time.perf_counter() - started:7.1f} s  {shown}"
                f"  peak {result['peak_rss_mb']:.0f} MB"
            )
        else:
            self.log(f"    {scenario:<22} FAILED: {result['error']}")
        return result

    # --- the data set ----------------------------------------------------------------------------------------
    def generate(self, specs):
        result = self.housekeeping("generate", companies=specs, events_per_contact=self.options.events_per_contact)
        return result["companies"]

    def large_spec(self, size):
        return {"name": generator.company_name(size, 0), "contacts": size, "seed": 1}

    def regenerate_large(self, size):
        return self.generate([self.large_spec(size)])[0]

    def empty_company(self, name):
        return self.generate([{"name": name, "contacts": 0, "seed": 9}])[0]["company_id"]

    # --- one size ----------------------------------------------------------------------------------------------
    def run_size(self, size):
        o = self.options
        self.log(f"== {self.vendor}: {size:,} contacts × {o.events_per_contact} events ==")
        self.housekeeping("wipe")
        specs = [self.large_spec(size)] + [
            {"name": generator.company_name(size, i), "contacts": max(1, size // 10), "seed": 100 + i}
            for i in range(1, o.other_companies + 1)
        ]
        made = self.generate(specs)
        large, other = made[0], (made[1] if len(made) > 1 else None)
        self.large_id = large["company_id"]
        result = {"database": self.vendor, "size": size, "events_per_contact": o.events_per_contact}
        result["dataset"] = {
            "companies": made,
            "rows": sum(c["rows"] for c in made),
            "seconds": round(sum(c["seconds"] for c in made), 2),
        }
        result["dataset"]["rows_per_s"] = round(result["dataset"]["rows"] / max(result["dataset"]["seconds"], 1e-9))
        scenarios = result["scenarios"] = {}
        with Server(self.child_env()) as server:
            if o.wants("contacts_page"):
                scenarios["contacts_page"] = self.contacts_page(server, large["company_id"], size)
            if o.wants("contacts_listing"):
                scenarios["contacts_listing"] = self.contacts_listing(large["company_id"])
            if o.wants("export"):
                scenarios["export"] = self.export(large["company_id"])
            if o.wants("restore"):
                scenarios["restore"] = self.restore(large["company_id"], scenarios.get("export"))
            if o.wants("import"):
                scenarios["import"] = self.import_csv(size)
            if o.wants("crm_deletion"):
                scenarios["crm_deletion"] = self.crm_deletion(size, large["company_id"])
            if o.wants("company_deletion"):
                scenarios["company_deletion"], scenarios["other_tenants"] = self.company_deletion(server, size, other)
            self.naive(size, scenarios)
        self.housekeeping("wipe")
        result["ratios"] = ratios(scenarios)
        result["targets"] = targets(scenarios)
        return result

    def contacts_page(self, server, company_id, size):
        self.log("  contacts page (scenario 6)")
        cookie, first_email = session_for(company_id)
        pages = max(1, -(-size // PAGE_SIZE))
        deep = min(DEEP_PAGE, pages)
        after = contact_id_at(company_id, (deep - 1) * PAGE_SIZE - 1) if deep > 1 else None
        deep_email = contact_email_at(company_id, (deep - 1) * PAGE_SIZE)
        common = {"host": "127.0.0.1", "port": server.port, "cookie": cookie, "count": self.options.page_requests}
        first = self.run("probe", path="/contacts/", expect=first_email, **common)
        deep_result = self.run(
            "probe", path=f"/contacts/?after={after}" if after else "/contacts/", expect=deep_email, **common
        )
        deep_result["page"] = deep
        return {"first_page": first, "deep_page": deep_result}

    def contacts_listing(self, company_id):
        self.log("  contacts listing, first page against a deep page (scenario 8)")
        result = self.run(
            "contacts_listing", company_id=company_id, deep_page=DEEP_PAGE, repeats=self.options.listing_repeats
        )
        if result.get("ok"):
            self.log(f"    {listing.ratio_line(result)}")
        return result

    def export(self, company_id):
        self.log("  export (scenario 1)")
        keel = self.run("export_keel", company_id=company_id)
        plain = self.run("export_python", company_id=company_id, archive_path=keel["archive_path"])
        dump = self.run("export_dump", company_id=company_id, archive_path=keel["archive_path"])
        return {"keel": keel, "python_csv_zip": plain, "db_dump": dump}

    def restore(self, company_id, export):
        """Keel's restore of the large company's archive into an empty company, beside a bulk load of its contacts
        and their history into another (docs/restore.md)."""
        self.log("  restore (scenario 7)")
        archive_path = ((export or {}).get("keel") or {}).get("archive_path")
        if not archive_path:
            archive_path = self.run("export_keel", required=True, company_id=company_id)["archive_path"]
        results = {}
        for key, scenario in (("keel", "restore_keel"), ("bulk_load", "restore_raw")):
            target = self.housekeeping("create_empty_company", name=f"Bench Restore {key}")["company_id"]
            results[key] = self.run(scenario, company_id=target, archive_path=archive_path)
            self.housekeeping("remove_company", company_id=target)
        return results

    def import_csv(self, size):
        self.log("  CSV import (scenario 4)")
        path = str(self.workdir / "import.csv")
        self.housekeeping("write_import_csv", path=path, rows=size)
        target = self.empty_company(f"Bench Import {size}")
        keel = self.run("import_keel", company_id=target, path=path, rows=size)
        self.housekeeping("remove_company", company_id=target)
        target = self.empty_company(f"Bench Import {size}")
        raw = self.run("import_raw", company_id=target, path=path, rows=size)
        self.housekeeping("remove_company", company_id=target)
        target = self.empty_company(f"Bench Import {size}")
        bulk = self.run("import_bulk_load", company_id=target, path=path, rows=size)
        self.housekeeping("remove_company", company_id=target)
        os.remove(path)
        return {"keel": keel, "raw_executemany": raw, "bulk_load": bulk}

    def crm_deletion(self, size, company_id):
        self.log("  delete all CRM records (scenario 2)")
        fresh = self.fresh_large(size)
        keel, _ = self.deletion_runs("crm_delete_keel", company_id, fresh, remove_after=True)
        raw, _ = self.deletion_runs("crm_delete_raw", fresh(), fresh, remove_after=True)
        return {"keel": keel, "raw_delete": raw}

    def company_deletion(self, server, size, other):
        self.log("  delete company data (scenarios 3 and 5)")
        fresh = self.fresh_large(size)
        if self.options.wants("crm_deletion"):  # the large company went with the CRM deletion scenario
            company_id = fresh()
        else:
            company_id = self.large_id
        probe = None
        if other:
            cookie, email = session_for(other["company_id"])
            probe = {"host": "127.0.0.1", "port": server.port, "cookie": cookie, "expect": email}
            probe |= {"path": "/contacts/", "think_ms": self.options.think_ms}
            idle = self.run("probe", count=self.options.idle_requests, **probe)
        self.company_probe = probe  # the naive company deletion is measured under the same reads (naive())
        keel, during_keel = self.deletion_runs("company_delete_keel", company_id, fresh, probe)
        raw, during_raw = self.deletion_runs("company_delete_raw", fresh(), fresh, probe)
        deletion = {"keel": keel, "raw_delete": raw}
        tenants = None
        if probe:
            tenants = {"idle": idle, "during_keel_deletion": during_keel, "during_raw_delete": during_raw}
            tenants["longest_write_transaction_ms"] = keel.get("write_transactions", {}).get("max_ms")
        return deletion, tenants

    def fresh_large(self, size):
        return lambda: self.regenerate_large(size)["company_id"]

    def deletion_runs(self, scenario, company_id, fresh, probe=None, remove_after=False):
        """Run a deletion scenario ``deletion_repeats`` times, the first on ``company_id`` and each other on a
        fresh copy (``fresh()`` makes one), and keep the run of median time, with what the probe measured during
        it. ``remove_after``: the scenario leaves the company (a CRM deletion), remove it after each run."""
        runs = []
        for i in range(max(1, self.options.deletion_repeats)):
            target = company_id if i == 0 else fresh()
            runs.append(self.while_probing(probe, scenario, company_id=target))
            if remove_after:
                self.housekeeping("remove_company", company_id=target)
        finished_runs = sorted((run for run in runs if run[0].get("ok")), key=lambda run: run[0]["seconds"])
        if not finished_runs:
            return runs[0]
        result, during = finished_runs[len(finished_runs) // 2]
        if len(runs) > 1:
            result["repeats_seconds"] = [round(run[0].get("seconds") or 0, 4) for run in runs]
        return result, during

    def while_probing(self, probe, scenario, **params):
        """Run a deletion while another tenant's contacts page is read in a loop; returns both results."""
        if not probe:
            return self.run(scenario, **params), None
        stop = self.stop_file(scenario)
        prober = self.start_child("probe", stop_file=str(stop), min_count=5, **probe)
        time.sleep(1.0)  # let the loop reach its steady state before the deletion starts
        try:
            result = self.run(scenario, **params)
        finally:
            stop.touch()
        probed = self.finish_child(prober, required=False)
        self.log(f"    other tenant meanwhile: p50 {probed.get('p50_ms')} ms, p99 {probed.get('p99_ms')} ms")
        return result, probed

    def stop_file(self, scenario):
        """The file that tells the probe of ``scenario`` to stop, not there yet: one left by the same scenario at
        an earlier size would end the new probe after its first few requests."""
        stop = self.workdir / f"stop-{scenario}"
        stop.unlink(missing_ok=True)
        return stop

    def naive(self, size, scenarios):
        n = min(size, self.options.naive_max)
        self.log(f"  naive Django deletions on a copy of {n:,} contacts")

        def copy():
            return self.generate([{"name": f"Bench Naive {size}", "contacts": n, "seed": 1}])[0]["company_id"]

        for key, scenario in (("crm_deletion", "crm_delete_naive"), ("company_deletion", "company_delete_naive")):
            if key not in scenarios:
                continue
            # Keel's company deletion and its raw baseline run while another tenant's page is read in a loop (two
            # more busy processes on the machine); the naive one is measured under the same load, so that all
            # three rates are comparable.
            probe = self.company_probe if key == "company_deletion" else None
            result, during = self.deletion_runs(
                scenario, copy(), copy, probe, remove_after=scenario == "crm_delete_naive"
            )
            if result.get("ok"):
                # What the naive way would take for the large tenant, at the rate it reached on the copy.
                keel_rows = (scenarios[key].get("keel") or {}).get("rows")
                if keel_rows and result.get("rows_per_s"):
                    result["extrapolated_seconds"] = round(keel_rows / result["rows_per_s"], 1)
                result["copy_contacts"] = n
                if during:
                    result["while_probing"] = True
            scenarios[key]["naive_django"] = result

    # --- everything --------------------------------------------------------------------------------------------
    def run_all(self):
        ensure_benchmark_database()
        started = time.perf_counter()
        sizes = []
        try:
            for size in self.options.sizes:
                sizes.append(self.run_size(size))
        finally:
            shutil.rmtree(self.workdir, ignore_errors=True)
            # The baselines' scratch files (plain-Python archives, dumps) live in the data folder: none is left.
            shutil.rmtree(os.path.join(settings.DATA_DIR, SCRATCH_FOLDER), ignore_errors=True)
        return {
            "database": self.vendor,
            "database_version": database_version(),
            "keel_commit": git("rev-parse", "--short", "HEAD"),
            # Files of Keel changed but not committed when the run started: the run measured them as they were.
            "uncommitted_keel_files": git("status", "--porcelain", "--untracked-files=no", "keel").split("\n")
            if git("status", "--porcelain", "--untracked-files=no", "keel")
            else [],
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "seconds": round(time.perf_counter() - started, 1),
            "options": asdict(self.options),
            "machine": machine(),
            "sizes": sizes,
        }


class Server:
    """``keel runserver`` on a free port: the same web stack ``keel serve`` runs."""

    def __init__(self, env):
        self.env = env
        self.port = free_port()

    def __enter__(self):
        command = [sys.executable, "-m", "keel.cli", "runserver", f"127.0.0.1:{self.port}", "--noreload"]
        self.process = subprocess.Popen(
            [*command, "--skip-checks"],
            cwd=settings.BASE_DIR,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                if self.process.poll() is not None:
                    break
                time.sleep(0.2)
        self.__exit__()
        raise ChildFailed("the web server did not start")

    def __exit__(self, *exc):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def session_for(company_id):
    """A session cookie of the company's administrator (as the login page would set it), and the e-mail of the
    company's first contact, which the first page of its contact list must show."""
    from django.test import Client

    _, admin = company_and_admin(company_id)
    client = Client()
    client.force_login(admin)
    name = settings.SESSION_COOKIE_NAME
    cookie = f"{name}={client.cookies[name].value}"
    connection.close()
    return cookie, contact_email_at(company_id, 0)


def _contact_at(company_id, offset):
    from keel.contacts.models import Contact

    contact = Contact.objects.filter(company_id=company_id).order_by("id")[offset : offset + 1].first()
    connection.close()
    return contact


def contact_id_at(company_id, offset):
    return _contact_at(company_id, offset).pk


def contact_email_at(company_id, offset):
    contact = _contact_at(company_id, offset)
    return contact.email if contact else ""


def ensure_benchmark_database():
    """The benchmark creates and deletes companies: it refuses a database that holds anything else."""
    foreign = list(generator.foreign_companies().values_list("name", flat=True)[:3])
    connection.close()
    if foreign:
        raise ChildFailed(
            "This database holds companies the benchmark did not create ("
            + ", ".join(foreign)
            + "). Run the benchmark on a database of its own: set DATABASE_URL (e.g. "
            "postgres://postgres@127.0.0.1:5432/keel_bench) or KEEL_DATA_DIR (e.g. /tmp/keel-bench)."
        )


def database_url():
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def database_version():
    with connection.cursor() as cursor:
        cursor.execute("SELECT sqlite_version()" if connection.vendor == "sqlite" else "SHOW server_version")
        version = cursor.fetchone()[0]
    connection.close()
    return version


def git(*args):
    try:
        return subprocess.run(
            ["git", *args], cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=30
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def machine():
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(memory, 1),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
    }
