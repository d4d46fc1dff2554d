"""What each benchmark process does: Keel's real code paths and the baselines they are compared with.

Every function here runs in a process of its own (``bench.child``), so that its peak memory is the peak memory of
the work alone. Keel's operations go through the same path as in production: the ``do_*`` action a page or the
API calls creates the job, and ``keel.jobs.runner.run_job`` runs it, exactly as the worker's task does. Each
function returns a dict with at least ``rows`` and ``seconds`` (the measured part only, Django start-up excluded).
"""

import csv
import io
import json
import os
import shutil
import subprocess
import tempfile
import time
import zipfile
from datetime import UTC, datetime

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import connection
from django.urls import get_resolver

from bench import db, generator, txwatch
from bench.listing import contacts_listing
from bench.memory import status_mb
from keel.accounts.models import Company, User
from keel.datacontrol import graph
from keel.datacontrol.export import archive as exporter
from keel.jobs.models import DataJob
from keel.jobs.runner import run_job


def company_and_admin(company_id):
    company = Company.objects.get(pk=company_id)
    admin = User.objects.filter(company=company, role__kind="admin", is_active=True).order_by("id").first()
    return company, admin


def finished(job_id):
    job = DataJob.objects.get(pk=job_id)
    if job.state != DataJob.State.SUCCEEDED:
        raise RuntimeError(f"job {job.pk} ({job.kind}) ended {job.state}: {job.error}")
    return job


SCRATCH_FOLDER = "bench-scratch"  # in the data folder; the suite removes it when a run ends


def scratch_dir():
    path = os.path.join(settings.DATA_DIR, SCRATCH_FOLDER)
    os.makedirs(path, exist_ok=True)
    return path


# --- the data set -----------------------------------------------------------------------------------------------


def generate(params):
    """Companies described by params["companies"] ([{name, contacts, seed}]), each with its history."""
    made = []
    started = time.perf_counter()
    for spec in params["companies"]:
        result = generator.generate_company(
            spec["name"], spec["contacts"], params["events_per_contact"], seed=spec["seed"]
        )
        made.append(
            {
                "company_id": result.company_id,
                "name": spec["name"],
                "contacts": result.contacts,
                "rows": result.total_rows,
                "seconds": round(result.seconds, 3),
                "rows_by_model": result.rows,
            }
        )
    generator.analyze()
    db.checkpoint()
    seconds = time.perf_counter() - started
    return {"companies": made, "rows": sum(c["rows"] for c in made), "seconds": seconds}


def create_empty_company(params):
    """A company with only its administrator and built-in roles, as a sign-up leaves it (a restore's target)."""
    company, _ = generator.create_company(params["name"], f"admin@{generator.ascii_part(params['name'])}.bench.test")
    return {"company_id": company.pk}


def wipe(params):
    """Remove every benchmark company (untimed housekeeping between scenarios)."""
    started = time.perf_counter()
    generator.wipe_bench_companies()
    db.checkpoint()
    return {"rows": 0, "seconds": time.perf_counter() - started}


def remove_company(params):
    started = time.perf_counter()
    db.delete_company_rows(params["company_id"], graph.tenant_models(), include_company=True, trusted=True)
    shutil.rmtree(default_storage.path(f"companies/{params['company_id']}"), ignore_errors=True)
    db.checkpoint()
    return {"rows": 0, "seconds": time.perf_counter() - started}


# --- export -----------------------------------------------------------------------------------------------------


def export_keel(params):
    """Keel's export job, started by the administrator's action and run by the job runner."""
    from keel.datacontrol.export.actions import do_start_export
    from keel.datacontrol.models import ExportArchive

    company, admin = company_and_admin(params["company_id"])
    archive = do_start_export(company, actor=admin)
    # Django imports the URL configuration (every view and API module) at the first reverse(), which the job's
    # "export ready" notice does: start-up of this fresh process, not work of the export (a worker pays it once).
    get_resolver().url_patterns  # noqa: B018 (the attribute imports the configuration)
    started = time.perf_counter()
    run_job(archive.job_id)
    seconds = time.perf_counter() - started
    finished(archive.job_id)
    archive = ExportArchive.objects.get(pk=archive.pk)
    rows = 1 + sum(archive.row_counts.values())  # + company.csv
    return {
        "rows": rows,
        "seconds": seconds,
        "archive_path": default_storage.path(archive.file_path),
        "archive_bytes": archive.size,
        "database": db.vendor(),  # the export target depends on it (bench/targets.py)
    }


def _exported_tables(archive_path):
    """(entity, model, header) of every CSV in Keel's archive, so the baselines dump exactly the same rows."""
    with zipfile.ZipFile(archive_path) as archive:
        manifest = json.loads(archive.read("manifest.json"))
    by_entity = {graph.entity_name(m): m for m in graph.tenant_models()}
    by_entity["company"] = Company
    tables = []
    for entry in manifest["files"]:
        model = by_entity.get(entry["entity"])
        if model is None:
            continue  # attachments/index.csv: copied with the files below
        tables.append((entry["entity"], model, [c["name"] for c in entry["columns"]]))
    return tables


def _select(model, header, company_id, text=False):
    """The plain SELECT of one exported file: the same columns, the same rows, in id order."""
    quote = connection.ops.quote_name
    names = [quote(model._meta.get_field(name).column) for name in header]
    if text:  # PostgreSQL: let the server format every value, as a plain exporter reading text would
        names = [f"{name}::text" for name in names]
    where = "id" if model is Company else "company_id"
    return (
        f"SELECT {', '.join(names)} FROM {quote(model._meta.db_table)} "  # noqa: S608 (identifiers from the model)
        f"WHERE {where} = {int(company_id)} ORDER BY id"
    )


def export_python(params):
    """Baseline: raw SQL cursor → csv.writer → zipfile, same compression as Keel, same rows, one read snapshot."""
    tables = _exported_tables(params["archive_path"])
    out = os.path.join(scratch_dir(), f"plain-{params['company_id']}.zip")
    postgres = db.vendor() == "postgresql"
    raw = db.raw_connection()
    rows = 0
    started = time.perf_counter()
    if postgres:
        raw.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
    else:
        raw.execute("BEGIN DEFERRED")
    try:
        with zipfile.ZipFile(
            out, "w", compression=exporter.COMPRESSION, compresslevel=exporter.COMPRESS_LEVEL, allowZip64=True
        ) as archive:
            for entity, model, header in tables:
                cursor = raw.cursor(name=f"export_{entity}") if postgres else raw.cursor()
                if postgres:
                    cursor.itersize = 10_000
                cursor.execute(_select(model, header, params["company_id"], text=postgres))
                with archive.open(f"{entity}.csv", "w", force_zip64=True) as entry:
                    text = io.TextIOWrapper(entry, encoding="utf-8", newline="", write_through=False)
                    writer = csv.writer(text, lineterminator="\r\n")
                    writer.writerow(header)
                    while batch := cursor.fetchmany(10_000):
                        writer.writerows(batch)
                        rows += len(batch)
                    text.flush()
                    text.detach()
                cursor.close()
            for name in _attachment_names(raw, params["company_id"]):
                with default_storage.open(name, "rb") as source, archive.open(f"attachments/{name}", "w") as entry:
                    shutil.copyfileobj(source, entry, 1024 * 1024)
    finally:
        raw.execute("ROLLBACK")
    seconds = time.perf_counter() - started
    size = os.path.getsize(out)
    os.remove(out)
    return {"rows": rows, "seconds": seconds, "archive_bytes": size}


def _attachment_names(raw, company_id):
    from keel.contacts.models import Attachment

    cursor = raw.cursor()
    cursor.execute(
        f"SELECT file FROM {Attachment._meta.db_table} WHERE company_id = {int(company_id)} ORDER BY id"  # noqa: S608
    )
    return [row[0] for row in cursor.fetchall()]


def export_dump(params):
    """Baseline: the database's own CSV dump of the same rows (``sqlite3 -csv`` / ``COPY … TO``), no ZIP."""
    tables = _exported_tables(params["archive_path"])
    folder = tempfile.mkdtemp(prefix="dump-", dir=scratch_dir())
    counts = dict(_counts_from_manifest(params["archive_path"]))
    rows = sum(counts.get(entity, 0) for entity, _, _ in tables)
    started = time.perf_counter()
    if db.vendor() == "postgresql":
        with db.raw_connection().cursor() as cursor:
            for entity, model, header in tables:
                sql = f"COPY ({_select(model, header, params['company_id'])}) TO STDOUT WITH (FORMAT csv, HEADER)"
                with open(os.path.join(folder, f"{entity}.csv"), "wb") as out, cursor.copy(sql) as copy:
                    for block in copy:
                        out.write(block)
        tool = "COPY … TO STDOUT (server) → file"
    else:
        script = [".headers on", ".mode csv"]
        for entity, model, header in tables:
            script += [
                f".output {os.path.join(folder, entity + '.csv')}",
                _select(model, header, params["company_id"]) + ";",
            ]
        script_path = os.path.join(folder, "dump.sql")
        with open(script_path, "w") as handle:
            handle.write("\n".join(script) + "\n")
        tool_peak = run_watching_memory(
            ["sqlite3", "-bail", settings.DATABASES["default"]["NAME"], f".read {script_path}"]
        )
        tool = "sqlite3 -csv (CLI process)"
    seconds = time.perf_counter() - started
    size = sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder))
    shutil.rmtree(folder)
    result = {"rows": rows, "seconds": seconds, "csv_bytes": size, "tool": tool}
    if db.vendor() == "sqlite":
        result["tool_peak_rss_mb"] = tool_peak
    return result


def run_watching_memory(command):
    """Run a tool and return its peak resident memory in MB, read from /proc while it runs."""

    process = subprocess.Popen(command)
    peak = 0.0
    while process.poll() is None:
        peak = max(peak, status_mb(process.pid, "VmHWM") or 0.0)
        time.sleep(0.02)
    if process.returncode:
        raise RuntimeError(f"{command[0]} exited with {process.returncode}")
    return peak


def _counts_from_manifest(archive_path):
    with zipfile.ZipFile(archive_path) as archive:
        manifest = json.loads(archive.read("manifest.json"))
    return [(entry["entity"], entry["rows"]) for entry in manifest["files"]]


# --- deletions --------------------------------------------------------------------------------------------------


def _crm_rows(company_id):
    return sum(db.count_company_rows(company_id, graph.crm_models()).values())


def _all_rows(company_id):
    return 1 + sum(db.count_company_rows(company_id, graph.tenant_models()).values())


def _as_a_worker():
    """This process, as a worker is before its first job: the worker loads the URLconf and the e-mail templates when
    it starts (``prepare_worker``), so that is start-up, not the job's work."""
    from keel.jobs.tasks import prepare_worker

    prepare_worker()


def crm_delete_keel(params):
    """Keel's "Delete all CRM Records": the administrator's action starts the job, the runner runs it."""
    from keel.datacontrol.crm_deletion import actions as crm_deletion

    _as_a_worker()
    watch = txwatch.install()
    company, admin = company_and_admin(params["company_id"])
    rows = _crm_rows(company.pk)
    start = getattr(crm_deletion, "do_start_crm_deletion", None)
    if start is None:
        return _crm_delete_with_eraser(company, rows, watch)
    job = start(company, actor=admin)
    job_id = getattr(job, "pk", None) or job.job.pk
    started = time.perf_counter()
    run_job(job_id)
    seconds = time.perf_counter() - started
    finished(job_id)
    left = _crm_rows(company.pk)
    return {"rows": rows, "seconds": seconds, "rows_left": left, "write_transactions": watch.summary()}


def _crm_delete_with_eraser(company, rows, watch):
    """For a Keel without the ``crm_deletion`` start action: the engine that job is built on, the eraser, over the
    CRM subgraph (rows in short batches, then the attachments' files), without a job around it."""
    from keel.datacontrol import eraser

    started = time.perf_counter()
    eraser.erase_rows(company.pk, graph.crm_models())
    eraser.erase_files(company.pk, "attachments")
    seconds = time.perf_counter() - started
    return {
        "rows": rows,
        "seconds": seconds,
        "rows_left": _crm_rows(company.pk),
        "write_transactions": watch.summary(),
        "path": "keel.datacontrol.eraser.erase_rows over graph.crm_models(), without the job",
    }


def crm_delete_raw(params):
    """Baseline: one ``DELETE … WHERE company_id = ?`` per CRM table, children first, in one transaction."""
    company_id = params["company_id"]
    rows = _crm_rows(company_id)
    started = time.perf_counter()
    db.delete_company_rows(company_id, graph.crm_models())
    seconds = time.perf_counter() - started
    return {"rows": rows, "seconds": seconds, "rows_left": _crm_rows(company_id)}


def crm_delete_naive(params):
    """Baseline: the naive Django way, ``Contact.objects.filter(company=c).delete()``."""
    from keel.contacts.models import Contact

    company_id = params["company_id"]
    rows = _crm_rows(company_id)
    started = time.perf_counter()
    Contact.objects.filter(company_id=company_id).delete()
    seconds = time.perf_counter() - started
    return {"rows": rows, "seconds": seconds, "rows_left": _crm_rows(company_id)}


def company_delete_keel(params):
    """Keel's company deletion: the administrator's confirmed request (name + password), then the job."""
    from keel.datacontrol.company_deletion.actions import do_request_company_deletion

    _as_a_worker()
    watch = txwatch.install()
    company, admin = company_and_admin(params["company_id"])
    rows = _all_rows(company.pk)
    started_deletion = do_request_company_deletion(company, company.name, generator.PASSWORD, actor=admin)
    started = time.perf_counter()
    run_job(started_deletion.job.pk)
    seconds = time.perf_counter() - started
    receipt = type(started_deletion.receipt).objects.get(pk=started_deletion.receipt.pk)
    if receipt.state != "succeeded":  # the job row went with the company; its receipt outlives it
        raise RuntimeError(f"company deletion ended {receipt.state}")
    return {
        "rows": rows,
        "seconds": seconds,
        "rows_left": _all_rows(company.pk) - 1,
        "write_transactions": watch.summary(),
    }


def company_delete_raw(params):
    """Baseline: one ``DELETE … WHERE company_id = ?`` per tenant table, then the company, in one transaction."""
    company_id = params["company_id"]
    rows = _all_rows(company_id)
    watch = txwatch.install()
    started = time.perf_counter()
    db.delete_company_rows(company_id, graph.tenant_models(), include_company=True)
    seconds = time.perf_counter() - started
    return {
        "rows": rows,
        "seconds": seconds,
        "rows_left": _all_rows(company_id) - 1,
        "write_transactions": watch.summary(),
    }


def company_delete_naive(params):
    """Baseline: the naive Django way, ``company.delete()``.

    Django refuses it as such (a user's role is a PROTECT key, and the collector reaches users and roles by two
    paths), so the naive way that works is measured: ``company.users.delete()`` first, then ``company.delete()``.
    """
    from django.db.models import ProtectedError

    company = Company.objects.get(pk=params["company_id"])
    rows = _all_rows(company.pk)
    note = ""
    started = time.perf_counter()
    try:
        company.delete()
    except ProtectedError as exc:
        note = f"company.delete() alone raised ProtectedError ({exc.args[0][:80]}…); measured users first"
        started = time.perf_counter()
        User.objects.filter(company=company).delete()
        company.delete()
    seconds = time.perf_counter() - started
    return {"rows": rows, "seconds": seconds, "rows_left": _all_rows(params["company_id"]) - 1, "note": note}


# --- import -----------------------------------------------------------------------------------------------------

IMPORT_HEADER = ["Email", "First name", "Last name", "Phone", "Company", "Job title", "Lifecycle stage", "Plan"]


def write_import_csv(params):
    """The CSV both import scenarios read: ``rows`` realistic contacts, as a CRM export elsewhere would give."""
    import random

    rng = random.Random(params.get("seed", 7))
    path = params["path"]
    started = time.perf_counter()
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(IMPORT_HEADER)
        firsts = rng.choices(generator.FIRST_NAMES, k=params["rows"])
        lasts = rng.choices(generator.LAST_NAMES, k=params["rows"])
        for i in range(params["rows"]):
            first, last = firsts[i], lasts[i]
            writer.writerow(
                [
                    f"{generator.ascii_part(first)}.{generator.ascii_part(last)}.{i}@import.example.com",
                    first,
                    last,
                    f"+44 20 {i % 10000:04d} {i % 1000:03d}",
                    generator.ORGANISATIONS[i % len(generator.ORGANISATIONS)],
                    generator.JOB_TITLES[i % len(generator.JOB_TITLES)],
                    generator.STAGES[i % len(generator.STAGES)],
                    generator.PLANS[i % len(generator.PLANS)],
                ]
            )
    return {"rows": params["rows"], "seconds": time.perf_counter() - started, "bytes": os.path.getsize(path)}


def import_keel(params):
    """Keel's CSV import: the upload is checked and stored (``do_import_file``), then the job runs."""
    from keel.contacts.imports.actions import do_import_file

    company, admin = company_and_admin(params["company_id"])
    started = time.perf_counter()
    with open(params["path"], "rb") as handle:
        job = do_import_file(admin.company, File(handle, name="contacts.csv"), actor=admin)
    uploaded = time.perf_counter()
    run_job(job.pk)
    seconds = time.perf_counter() - started
    job = finished(job.pk)
    return {
        "rows": params["rows"],
        "seconds": seconds,
        "upload_seconds": uploaded - started,
        "job_seconds": seconds - (uploaded - started),
        "result": {k: v for k, v in (job.result or {}).items() if isinstance(v, int | float | str)},
        "contacts_after": _contacts(company.pk),
    }


def _contacts(company_id):
    from keel.contacts.models import Contact

    return db.count_company_rows(company_id, [Contact])[graph.label(Contact)]


def _import_chunks(params, rows_per_chunk):
    """The import CSV as the baselines write it: (contact rows, event rows) per chunk of ``rows_per_chunk``, with
    ids assigned here (contacts and their "imported" history event, the columns Keel writes)."""
    from keel.contacts.models import Contact, ContactEvent

    company_id = params["company_id"]
    stamp = generator.db_timestamp(datetime.now(UTC).replace(microsecond=0))
    contact_id, event_id = db.next_id(Contact), db.next_id(ContactEvent)
    with open(params["path"], newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        next(reader)
        while True:
            chunk = [row for _, row in zip(range(rows_per_chunk), reader, strict=False)]
            if not chunk:
                return
            contacts, events = [], []
            for email, first, last, phone, org, title, stage, plan in chunk:
                custom = json.dumps({"Plan": plan})
                contacts.append(
                    (contact_id, company_id, email, first, last, phone, org, title, stage, custom, stamp, stamp)
                )
                events.append((event_id, company_id, contact_id, "imported", "Imported from contacts.csv", "{}", stamp))
                contact_id += 1
                event_id += 1
            yield contacts, events


IMPORT_EVENT_FIELDS = ["id", "company_id", "contact_id", "kind", "title", "data", "occurred_at"]


def import_raw(params):
    """Baseline: the same rows parsed with csv and inserted with raw ``executemany`` (contacts and their
    "imported" history event, as Keel writes), 10,000 rows per transaction."""
    from keel.contacts.models import Contact, ContactEvent

    mark = db.placeholder()
    quote = connection.ops.quote_name

    def insert(cursor, model, fields, rows):
        columns = ", ".join(quote(db.column(model, f)) for f in fields)
        marks = ", ".join(mark for _ in fields)
        sql = f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES ({marks})"  # noqa: S608
        cursor.executemany(sql, rows)

    started = time.perf_counter()
    done = 0
    for contacts, events in _import_chunks(params, 10_000):
        with db.write_transaction() as cursor:
            insert(cursor, Contact, generator.CONTACT_COLUMNS, contacts)
            insert(cursor, ContactEvent, IMPORT_EVENT_FIELDS, events)
        done += len(contacts)
    seconds = time.perf_counter() - started
    db.reset_sequences([Contact, ContactEvent])
    return {"rows": done, "seconds": seconds}


IMPORT_BULK_ROWS = 50_000


def import_bulk_load(params):
    """Baseline, the physical limit: the same rows loaded the fastest way each database takes them, indexes and
    constraints in place (foreign-key checks too): ``COPY … FROM STDIN`` on PostgreSQL, ``executemany`` on SQLite,
    50,000 rows (contacts and their "imported" history event) per transaction."""
    from keel.contacts.models import Contact, ContactEvent

    per_transaction = params.get("rows_per_transaction", IMPORT_BULK_ROWS)
    started = time.perf_counter()
    done = 0
    for contacts, events in _import_chunks(params, per_transaction):
        with db.write_transaction():
            db.bulk_insert(Contact, generator.CONTACT_COLUMNS, contacts)
            db.bulk_insert(ContactEvent, IMPORT_EVENT_FIELDS, events)
        done += len(contacts)
    seconds = time.perf_counter() - started
    db.reset_sequences([Contact, ContactEvent])
    return {"rows": done, "seconds": seconds, "rows_per_transaction": per_transaction, "database": db.vendor()}


# --- restore ----------------------------------------------------------------------------------------------------


def restore_keel(params):
    """Keel's restore: the administrator's action checks and stores the archive, then the job verifies and loads
    it (every id mapped, every file checked)."""
    from keel.datacontrol.restore.actions import do_start_restore

    company, admin = company_and_admin(params["company_id"])
    started = time.perf_counter()
    with open(params["archive_path"], "rb") as handle:
        job = do_start_restore(company, File(handle, name="archive.zip"), actor=admin)
    stored = time.perf_counter()
    run_job(job.pk)
    seconds = time.perf_counter() - started
    job = finished(job.pk)
    rows = sum((job.result or {}).get("rows", {}).values())
    return {"rows": rows, "seconds": seconds, "upload_seconds": stored - started, "state": job.state}


RAW_RESTORED = ("contacts", "contact_events")


def restore_raw(params):
    """Baseline: a bulk load of the archive's contacts and their history (nearly all of its rows) into the empty
    company: ``COPY … FROM STDIN`` on PostgreSQL, ``executemany`` in 50,000-row transactions on SQLite, new ids by a
    fixed shift, no checks."""
    from keel.contacts.models import Contact, ContactEvent

    models = {"contacts": Contact, "contact_events": ContactEvent}
    archive = zipfile.ZipFile(params["archive_path"])
    entries = {entry["entity"]: entry for entry in json.loads(archive.read("manifest.json"))["files"]}
    shift = {entity: db.next_id(model) for entity, model in models.items()}
    started, done = time.perf_counter(), 0
    for entity, model in models.items():
        entry = entries[entity]
        fields = ["company_id", *(c["name"] for c in entry["columns"])]
        convert = _raw_converters(entity, entry["columns"], shift)
        with archive.open(entry["path"]) as raw:
            reader = csv.reader(io.TextIOWrapper(raw, encoding="utf-8", newline=""))
            next(reader)
            while chunk := [row for _, row in zip(range(50_000), reader, strict=False)]:
                rows = [
                    (params["company_id"], *(fn(cell) for fn, cell in zip(convert, row, strict=True))) for row in chunk
                ]
                with db.write_transaction():
                    db.bulk_insert(model, fields, rows)
                done += len(chunk)
    seconds = time.perf_counter() - started
    db.reset_sequences(list(models.values()))
    return {"rows": done, "seconds": seconds}


def _raw_converters(entity, columns, shift):
    """Cell → database value for each column: ids and references shifted past their table's highest id, NULL for
    empty nullable cells, everything else as the text it is (both databases read ISO times and JSON text)."""
    converters = []
    for column in columns:
        target = entity if column["name"] == "id" else column.get("references")
        offset = shift.get(target, 0)
        if column["type"] == "integer":
            converters.append(lambda cell, offset=offset: int(cell) + offset if cell else None)
        elif column.get("nullable"):
            converters.append(lambda cell: cell or None)
        else:
            converters.append(lambda cell: cell)
    return converters


# --- HTTP loops ---------------------------------------------------------------------------------------------------


def probe(params):
    """GET a page in a loop through the real HTTP stack: ``count`` times, or until ``stop_file`` appears."""
    import http.client

    host, port = params["host"], params["port"]
    latencies, errors = [], 0
    stop_file = params.get("stop_file")
    count = params.get("count")
    think = params.get("think_ms", 0) / 1000
    deadline = time.monotonic() + params.get("max_seconds", 3600)
    started = time.perf_counter()
    while time.monotonic() < deadline:
        if count is not None and len(latencies) + errors >= count:
            break
        if stop_file and os.path.exists(stop_file) and len(latencies) >= params.get("min_count", 0):
            break
        t0 = time.perf_counter()
        try:
            conn = http.client.HTTPConnection(host, port, timeout=60)
            conn.request("GET", params["path"], headers={"Cookie": params["cookie"]})
            response = conn.getresponse()
            body = response.read()
            conn.close()
            ok = response.status == 200 and params.get("expect", "").encode() in body
        except OSError:
            ok = False
        elapsed = time.perf_counter() - t0
        if ok:
            latencies.append(elapsed)
        else:
            errors += 1
        if think:
            time.sleep(think)
    return {
        "rows": len(latencies),
        "seconds": time.perf_counter() - started,
        "errors": errors,
        **percentiles(latencies),
    }


def percentiles(latencies):
    ordered = sorted(latencies)
    if not ordered:
        return {"requests": 0, "p50_ms": None, "p99_ms": None, "mean_ms": None}

    def pick(q):
        return round(ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] * 1000, 2)

    return {
        "requests": len(ordered),
        "p50_ms": pick(0.50),
        "p99_ms": pick(0.99),
        "mean_ms": round(sum(ordered) / len(ordered) * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
    }


SCENARIOS = {
    fn.__name__: fn
    for fn in (
        generate,
        create_empty_company,
        wipe,
        remove_company,
        export_keel,
        export_python,
        export_dump,
        crm_delete_keel,
        crm_delete_raw,
        crm_delete_naive,
        company_delete_keel,
        company_delete_raw,
        company_delete_naive,
        write_import_csv,
        import_keel,
        import_raw,
        import_bulk_load,
        restore_keel,
        restore_raw,
        probe,
        contacts_listing,
    )
}
