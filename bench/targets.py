"""Ratios of Keel to its baselines, and the performance targets they are checked against (docs/benchmarks.md)."""


def rate(result):
    return (result or {}).get("rows_per_s") if (result or {}).get("ok") else None


def ratio(a, b):
    return round(a / b, 3) if a and b else None


def ratios(s):
    out = {}
    export = s.get("export", {})
    out["export_vs_python"] = ratio(rate(export.get("keel")), rate(export.get("python_csv_zip")))
    out["export_vs_db_dump"] = ratio(rate(export.get("keel")), rate(export.get("db_dump")))
    for key in ("crm_deletion", "company_deletion"):
        part = s.get(key, {})
        out[f"{key}_vs_raw"] = ratio(rate(part.get("keel")), rate(part.get("raw_delete")))
        out[f"{key}_vs_naive"] = ratio(rate(part.get("keel")), rate(part.get("naive_django")))
    restore = s.get("restore", {})
    out["restore_vs_bulk_load"] = ratio(rate(restore.get("keel")), rate(restore.get("bulk_load")))
    imp = s.get("import", {})
    out["import_vs_raw"] = ratio(rate(imp.get("keel")), rate(imp.get("raw_executemany")))
    out["import_vs_bulk_load"] = ratio(rate(imp.get("keel")), rate(imp.get("bulk_load")))
    # The contacts listing: deep page ÷ first page (median times) of each variant, 1 when depth costs nothing. Not
    # Keel against a baseline like the others, and no target: the variants are read against each other.
    for key, variant in ((s.get("contacts_listing") or {}).get("variants") or {}).items():
        out[f"listing_{key}_deep_vs_first"] = variant.get("deep_vs_first")
    tenants = s.get("other_tenants") or {}
    if tenants:
        out["tenant_p99_during_vs_idle"] = ratio(
            (tenants.get("during_keel_deletion") or {}).get("p99_ms"), (tenants.get("idle") or {}).get("p99_ms")
        )
    return out


# The import against a bulk load of the same rows (COPY on PostgreSQL, executemany on SQLite), by database: what
# validation, matching by e-mail, history events, tags, the error report and resumable batches may cost.
IMPORT_BULK_LOAD_TARGETS = {"postgresql": 0.25, "sqlite": 0.5}


def import_bulk_load_target(s):
    """The import's target for the database its bulk load ran on (recorded in the baseline's result)."""
    database = ((s.get("import") or {}).get("bulk_load") or {}).get("database")
    return IMPORT_BULK_LOAD_TARGETS.get(database, 0.5)


def export_target(export, r):
    """PostgreSQL: half the database's own CSV dump (COPY … TO STDOUT); SQLite: at least the plain-Python exporter
    (the ``sqlite3`` CLI's dump runs no Python at all: docs/benchmarks.md says what the gap to it is made of)."""
    keel, dump = export.get("keel") or {}, export.get("db_dump") or {}
    engine = keel.get("database") or ("postgresql" if "COPY" in (dump.get("tool") or "") else "sqlite")
    if engine == "postgresql":
        return ("export ≥ 0.5 × the database's CSV dump (PostgreSQL)", r["export_vs_db_dump"], lambda v: v >= 0.5)
    return ("export ≥ 1.0 × plain-Python csv→zip (SQLite)", r["export_vs_python"], lambda v: v >= 1.0)


def targets(s):
    """The targets of docs/benchmarks.md (Targets), checked: each with the measured value and whether it is met."""
    r = ratios(s)
    import_target = import_bulk_load_target(s)

    def import_met(v):
        return v >= import_target

    checks = [
        export_target(s.get("export") or {}, r),
        ("CRM deletion ≥ 0.7 × one-statement raw DELETE", r["crm_deletion_vs_raw"], lambda v: v >= 0.7),
        ("company deletion ≥ 0.7 × one-statement raw DELETE", r["company_deletion_vs_raw"], lambda v: v >= 0.7),
        ("CRM deletion far ahead of naive Django (≥ 5×)", r["crm_deletion_vs_naive"], lambda v: v >= 5),
        ("company deletion far ahead of naive Django (≥ 5×)", r["company_deletion_vs_naive"], lambda v: v >= 5),
        ("restore ≥ 0.5 × a bulk load of the same rows", r["restore_vs_bulk_load"], lambda v: v >= 0.5),
        (f"import ≥ {import_target} × a bulk load of the same rows", r["import_vs_bulk_load"], import_met),
    ]
    for key in ("crm_deletion", "company_deletion"):
        tx = (s.get(key, {}).get("keel") or {}).get("write_transactions") or {}
        checks.append((f"{key.replace('_', ' ')}: no write transaction > 100 ms", tx.get("max_ms"), lambda v: v <= 100))
    if "tenant_p99_during_vs_idle" in r:
        checks.append(
            ("other tenants' p99 during deletion ≤ 2 × idle", r["tenant_p99_during_vs_idle"], lambda v: v <= 2)
        )
    return [
        {"target": name, "value": value, "met": None if value is None else bool(test(value))}
        for name, value, test in checks
    ]
