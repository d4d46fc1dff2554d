"""The benchmark's outputs: the results file, the terminal (and Markdown) table, and the SVG picture.

The results file keeps one section per database, so a run on SQLite and a run on PostgreSQL end up side by side
in one file and one picture, whichever ran last.
"""

import json
import math
from datetime import UTC, datetime
from html import escape
from pathlib import Path

from bench import listing
from bench.targets import ratios, targets

OPERATIONS = [
    # (scenario, label, Keel key, (baseline key, label) of the headline ratio, colour)
    ("export", "Export", "keel", ("python_csv_zip", "plain Python csv→zip"), "#1f6feb"),
    ("crm_deletion", "Delete all CRM records", "keel", ("raw_delete", "raw DELETE per table"), "#d1242f"),
    ("company_deletion", "Delete company data", "keel", ("raw_delete", "raw DELETE per table"), "#8250df"),
    ("import", "CSV import", "keel", ("bulk_load", "bulk load (COPY / executemany)"), "#1a7f37"),
    ("restore", "Restore", "keel", ("bulk_load", "bulk load of contacts and history"), "#bf8700"),
]
BASELINE_LABELS = {
    "python_csv_zip": "plain Python csv→zip",
    "db_dump": "database CSV dump",
    "raw_delete": "one raw DELETE per table, one transaction",
    "naive_django": "naive Django .delete()",
    "raw_executemany": "raw executemany",
    "bulk_load": "bulk load (COPY / executemany) of the contacts and their history",
}
DATABASE_NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}


# --- the results file ------------------------------------------------------------------------------------------


def load(path):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {"format": "keel-bench", "runs": {}}


def merge(path, run, partial=False):
    """Store ``run`` as its database's section of the results file, keeping the other database's section.

    ``partial``: the run measured only some scenarios (``--only``); they replace the same scenarios of the same
    sizes in the stored run, and everything else stored is kept.
    """
    doc = load(path)
    stored = doc.get("runs", {}).get(run["database"])
    if partial and stored:
        run = _merge_partial(stored, run)
    doc["format"] = "keel-bench"
    doc["updated_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    doc.setdefault("runs", {})[run["database"]] = run
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(doc, indent=2, ensure_ascii=False, default=str) + "\n")
    return doc


def _merge_partial(stored, run):
    by_size = {size["size"]: size for size in stored["sizes"]}
    for size in run["sizes"]:
        old = by_size.get(size["size"])
        if old is None:
            by_size[size["size"]] = size
            continue
        old["scenarios"].update(size["scenarios"])
        old["ratios"], old["targets"] = ratios(old["scenarios"]), targets(old["scenarios"])
        old.setdefault("partial_updates", []).append(
            {
                "finished_at": run["finished_at"],
                "keel_commit": run.get("keel_commit"),
                "scenarios": sorted(size["scenarios"]),
            }
        )
    merged = dict(stored)
    merged["sizes"] = [by_size[k] for k in sorted(by_size)]
    return merged


# --- numbers as text ---------------------------------------------------------------------------------------------


def n(value, digits=0):
    if value is None:
        return "–"
    return f"{value:,.{digits}f}"


def ratio_text(value):
    return "–" if value is None else f"{value:.2f}×"


def rate(result):
    return result.get("rows_per_s") if result and result.get("ok") else None


def peak(result):
    """Peak memory of the process doing the work: the CLI tool's for the sqlite3 dump, else the scenario's."""
    if not result or not result.get("ok"):
        return None
    return result.get("tool_peak_rss_mb") or result.get("peak_rss_mb")


def size_rows(doc):
    """(database, size result) pairs, databases in a fixed order, sizes ascending."""
    for database in ("sqlite", "postgresql"):
        run = doc.get("runs", {}).get(database)
        if run:
            for size in run["sizes"]:
                yield run, size


def table_rows(size):
    """The rows of one size's table: operation, Keel rate, Keel peak, baseline, baseline rate, its peak, ratio."""
    s = size["scenarios"]
    rows = []
    for key, label, keel_key, _, _ in OPERATIONS:
        part = s.get(key) or {}
        keel = part.get(keel_key)
        first = True
        for base_key in ("python_csv_zip", "db_dump", "raw_delete", "naive_django", "raw_executemany", "bulk_load"):
            if base_key not in part:
                continue
            base = part[base_key]
            value = rate(keel) / rate(base) if rate(keel) and rate(base) else None
            extra = ""
            if base_key == "naive_django" and base.get("ok"):
                extra = f" (on {base.get('copy_contacts', 0):,} contacts)"
            shown = label + (" (eraser only)" if keel and keel.get("path") else "")
            rows.append(
                [
                    shown if first else "",
                    n(rate(keel)) if first else "",
                    n(peak(keel)) if first else "",
                    BASELINE_LABELS[base_key] + extra,
                    n(rate(base)) if base.get("ok") else "failed",
                    n(peak(base)),
                    ratio_text(value),
                ]
            )
            first = False
    return rows


def latency_lines(size):
    s = size["scenarios"]
    lines = []
    tenants = s.get("other_tenants")
    if tenants:
        idle, during = tenants.get("idle") or {}, tenants.get("during_keel_deletion") or {}
        raw = tenants.get("during_raw_delete") or {}
        lines.append(
            f"Other tenant's contacts page: idle p50 {n(idle.get('p50_ms'), 1)} / p99 {n(idle.get('p99_ms'), 1)} ms;"
            f" during Keel's company deletion p50 {n(during.get('p50_ms'), 1)} / p99 {n(during.get('p99_ms'), 1)}"
            f" ms ({ratio_text(size['ratios'].get('tenant_p99_during_vs_idle'))} idle p99);"
            f" during the raw one-transaction DELETE p50 {n(raw.get('p50_ms'), 1)} / p99 {n(raw.get('p99_ms'), 1)} ms."
        )
    for key in ("crm_deletion", "company_deletion"):
        tx = ((s.get(key) or {}).get("keel") or {}).get("write_transactions")
        if tx:
            spent = tx.get("seconds_by_table") or {}
            total = sum(spent.values()) or 1
            where = ", ".join(f"{table} {seconds / total:.0%}" for table, seconds in list(spent.items())[:3])
            lines.append(
                f"{key.replace('_', ' ').capitalize()}: {tx['count']:,} write transactions, longest"
                f" {n(tx['max_ms'], 1)} ms, p99 {n(tx['p99_ms'], 1)} ms, {tx['over_100ms']} over 100 ms"
                + (f"; time in them by table: {where}." if where else ".")
            )
            auto = tx.get("autocommit_writes") or {}
            if auto.get("count"):
                lines.append(
                    f"  Besides, {auto['count']:,} single write statements (job heartbeat and progress), longest"
                    f" {n(auto['max_ms'], 1)} ms including the wait for the write lock."
                )
    raw_tx = ((s.get("company_deletion") or {}).get("raw_delete") or {}).get("write_transactions")
    if raw_tx:
        lines.append(f"The raw baseline holds one write transaction of {n(raw_tx['max_ms'] / 1000, 1)} s.")
    listed = listing.ratio_line(s.get("contacts_listing"))
    if listed:
        lines.append(listed)
    page = s.get("contacts_page")
    if page:
        first, deep = page.get("first_page") or {}, page.get("deep_page") or {}
        lines.append(
            f"Contacts page of the large company: first page p50 {n(first.get('p50_ms'), 1)} /"
            f" p99 {n(first.get('p99_ms'), 1)} ms; page {deep.get('page', '?'):,} p50 {n(deep.get('p50_ms'), 1)} /"
            f" p99 {n(deep.get('p99_ms'), 1)} ms."
        )
    return lines


HEADER = ["operation", "Keel rows/s", "Keel peak MB", "baseline", "rows/s", "peak MB", "Keel ÷ baseline"]


def title(run, size):
    rows = size["dataset"]["rows"]
    m = run.get("machine", {})
    return (
        f"{DATABASE_NAMES.get(run['database'], run['database'])} {run.get('database_version', '')}: "
        f"{size['size']:,} contacts, {size['events_per_contact']} events each, {rows:,} rows in all companies "
        f"({m.get('cores', '?')} cores, {m.get('memory_gib', '?')} GiB)"
    )


def text_table(doc, sizes=None):
    out = []
    for run, size in size_rows(doc):
        if sizes and size["size"] not in sizes:
            continue
        rows = [HEADER] + table_rows(size)
        widths = [max(len(str(r[i])) for r in rows) for i in range(len(HEADER))]
        out.append("")
        out.append(title(run, size))
        for i, row in enumerate(rows):
            cells = [
                str(c).rjust(w) if j in (1, 2, 4, 5, 6) else str(c).ljust(w)
                for j, (c, w) in enumerate(zip(row, widths, strict=True))
            ]
            out.append("  ".join(cells))
            if i == 0:
                out.append("  ".join("-" * w for w in widths))
        out.extend(latency_lines(size))
        missed = [t for t in size.get("targets", []) if t["met"] is False]
        met = [t for t in size.get("targets", []) if t["met"]]
        out.append(f"Targets met: {len(met)} of {len(size.get('targets', []))}.")
        out.extend(f"  MISSED: {t['target']} (measured {t['value']})" for t in missed)
    return "\n".join(out)


def scaling_markdown(doc):
    """One table per database: each operation's rate, peak memory and headline ratio at every tenant size."""
    out = []
    for database in ("sqlite", "postgresql"):
        run = doc.get("runs", {}).get(database)
        if not run:
            continue
        sizes = run["sizes"]
        out.append(f"**{DATABASE_NAMES[database]}: rows per second (peak MB) and Keel ÷ baseline, by tenant size**")
        out.append("")
        out.append("| operation | " + " | ".join(f"{s['size']:,} contacts" for s in sizes) + " |")
        out.append("|---|" + "---:|" * len(sizes))
        for key, label, keel_key, (base_key, base_label), _ in OPERATIONS:
            cells = []
            for size in sizes:
                part = size["scenarios"].get(key) or {}
                keel, base = part.get(keel_key), part.get(base_key)
                value = rate(keel) / rate(base) if rate(keel) and rate(base) else None
                cells.append(f"{n(rate(keel))} ({n(peak(keel))} MB), {ratio_text(value)}")
            out.append(f"| {label} (vs {base_label}) | " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)


def markdown(doc, sizes=None):
    out = [scaling_markdown(doc)] if not sizes else []
    for run, size in size_rows(doc):
        if sizes and size["size"] not in sizes:
            continue
        out.append(f"**{title(run, size)}**")
        out.append("")
        out.append("| " + " | ".join(HEADER) + " |")
        out.append("|" + "|".join("---:" if i in (1, 2, 4, 5, 6) else "---" for i in range(len(HEADER))) + "|")
        out.extend("| " + " | ".join(str(c) for c in row) + " |" for row in table_rows(size))
        out.append("")
        out.extend(f"- {line}" for line in latency_lines(size))
        out.append("")
        out.append("| target (docs/benchmarks.md) | measured | met |")
        out.append("|---|---:|---|")
        for t in size.get("targets", []):
            value = "–" if t["value"] is None else f"{t['value']:,}"
            out.append(f"| {t['target']} | {value} | {'yes' if t['met'] else 'no' if t['met'] is False else '–'} |")
        out.append("")
    return "\n".join(out)


# --- the picture -------------------------------------------------------------------------------------------------


def svg(doc):
    """Throughput and peak memory against tenant size, one row of two panels per database."""
    runs = [doc["runs"][d] for d in ("sqlite", "postgresql") if d in doc.get("runs", {})]
    panel_w, panel_h, margin = 440, 250, 70
    width = 2 * (panel_w + margin) + 40
    height = len(runs) * (panel_h + 90) + 90
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{width / 2}" y="24" text-anchor="middle" font-size="16" font-weight="bold">'
        "Keel at scale: throughput and peak memory against tenant size</text>",
    ]
    legend_x = 60
    for _, label, _, _, colour in OPERATIONS:
        parts.append(f'<line x1="{legend_x}" y1="46" x2="{legend_x + 22}" y2="46" stroke="{colour}" stroke-width="3"/>')
        parts.append(f'<text x="{legend_x + 27}" y="50">{escape(label)}</text>')
        legend_x += 40 + 6 * len(label)
    parts.append(
        f'<line x1="{legend_x}" y1="46" x2="{legend_x + 22}" y2="46" stroke="#555" stroke-width="2" '
        f'stroke-dasharray="5,4"/><circle cx="{legend_x + 11}" cy="46" r="3.5" fill="white" stroke="#555" '
        f'stroke-width="2"/><text x="{legend_x + 27}" y="50">its baseline: plain Python export, raw DELETE, '
        "bulk load (import, restore)</text>"
    )
    for row, run in enumerate(runs):
        top = 80 + row * (panel_h + 90)
        sizes = [s["size"] for s in run["sizes"]]
        name = DATABASE_NAMES.get(run["database"], run["database"])
        throughput, memory = [], []
        for key, _, keel_key, (base_key, _), colour in OPERATIONS:
            keel_points = [(s["size"], rate((s["scenarios"].get(key) or {}).get(keel_key))) for s in run["sizes"]]
            base_points = [(s["size"], rate((s["scenarios"].get(key) or {}).get(base_key))) for s in run["sizes"]]
            mem_points = [(s["size"], peak((s["scenarios"].get(key) or {}).get(keel_key))) for s in run["sizes"]]
            throughput += [(keel_points, colour, False), (base_points, colour, True)]
            memory.append((mem_points, colour, False))
        parts += panel(60, top, panel_w, panel_h, sizes, throughput, f"{name}: rows per second", log_y=True)
        parts += panel(60 + panel_w + margin + 20, top, panel_w, panel_h, sizes, memory, f"{name}: peak memory, MB")
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _nice_ticks(low, high, log_y):
    if log_y:
        lo, hi = math.floor(math.log10(low)), math.ceil(math.log10(high))
        return [10**e for e in range(lo, hi + 1)]
    step = 10 ** math.floor(math.log10(max(high, 1)))
    for factor in (1, 2, 5, 10):
        if high / (step * factor) <= 6:
            step *= factor
            break
    return [i * step for i in range(0, int(high // step) + 2)]


def _short(value):
    for unit, scale in (("M", 1e6), ("k", 1e3)):
        if value >= scale:
            text = f"{value / scale:.1f}".rstrip("0").rstrip(".")
            return f"{text}{unit}"
    return f"{value:g}"


def panel(x, y, w, h, sizes, series, label, log_y=False):
    values = [v for points, _, _ in series for _, v in points if v]
    parts = [f'<text x="{x + w / 2}" y="{y - 10}" text-anchor="middle" font-weight="bold">{escape(label)}</text>']
    parts.append(f'<rect x="{x}" y="{y}" width="{w}" height="{h}" fill="none" stroke="#999"/>')
    if not values or not sizes:
        return parts
    ticks = _nice_ticks(min(values), max(values), log_y) if log_y else _nice_ticks(0, max(values), False)
    low, high = ticks[0], ticks[-1]
    xs = sorted(set(sizes))
    x_low, x_high = math.log10(xs[0]), math.log10(xs[-1]) if len(xs) > 1 else math.log10(xs[0]) + 1

    def px(size):
        return x + 20 + (w - 40) * ((math.log10(size) - x_low) / ((x_high - x_low) or 1))

    def py(value):
        if log_y:
            return y + h - h * (math.log10(value) - math.log10(low)) / ((math.log10(high) - math.log10(low)) or 1)
        return y + h - h * (value - low) / ((high - low) or 1)

    for tick in ticks:
        ty = py(tick)
        parts.append(f'<line x1="{x}" y1="{ty:.1f}" x2="{x + w}" y2="{ty:.1f}" stroke="#eee"/>')
        parts.append(f'<text x="{x - 6}" y="{ty + 4:.1f}" text-anchor="end" fill="#555">{_short(tick)}</text>')
    for size in xs:
        parts.append(
            f'<text x="{px(size):.1f}" y="{y + h + 16}" text-anchor="middle" fill="#555">{_short(size)}</text>'
        )
    parts.append(
        f'<text x="{x + w / 2}" y="{y + h + 34}" text-anchor="middle" fill="#333">contacts in the tenant</text>'
    )
    for points, colour, dashed in series:
        drawn = [(px(s), py(v)) for s, v in points if v]
        if not drawn:
            continue
        dash = ' stroke-dasharray="5,4"' if dashed else ""
        width = 2 if dashed else 3
        path = " ".join(f"{a:.1f},{b:.1f}" for a, b in drawn)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="{width}"{dash}/>')
        fill = "white" if dashed else colour  # baselines: hollow points, so a single size still tells them apart
        for a, b in drawn:
            parts.append(
                f'<circle cx="{a:.1f}" cy="{b:.1f}" r="3.5" fill="{fill}" stroke="{colour}" stroke-width="2"/>'
            )
    return parts


def write_svg(doc, path):
    Path(path).write_text(svg(doc))
