"""Archives for the restore tests: a real export of a company, and ways to damage it (no tests here)."""

import csv
import hashlib
import io
import json
import zipfile
from datetime import datetime

from keel.datacontrol.export.archive import write_archive


def export_bytes(company, scope=None):
    out = io.BytesIO()
    write_archive(company, scope, out)
    return out.getvalue()


def rewrite_archive(data, replace=None, edit_manifest=None, fix_checksums=True):
    """A copy of an archive with some members replaced; the manifest's checksums follow unless told not to."""
    replace = replace or {}
    source = zipfile.ZipFile(io.BytesIO(data))
    manifest = json.loads(source.read("manifest.json"))
    for entry in manifest["files"]:
        if entry["path"] in replace and fix_checksums:
            entry["sha256"] = hashlib.sha256(replace[entry["path"]]).hexdigest()
    if edit_manifest:
        edit_manifest(manifest)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for name in source.namelist():
            if name == "manifest.json":
                target.writestr(name, json.dumps(manifest))
            else:
                target.writestr(name, replace.get(name, source.read(name)))
    return out.getvalue()


def manifest_of(data):
    return json.loads(zipfile.ZipFile(io.BytesIO(data)).read("manifest.json"))


def csv_rows(data, path):
    text = zipfile.ZipFile(io.BytesIO(data)).read(path).decode("utf-8")
    return list(csv.DictReader(io.StringIO(text, newline="")))


# How restore matches a row of the original to its copy where the copy was merged, not created (docs/restore.md).
MATCH_BY = {"users": "email", "roles": "name"}
# Entities restore does not bring back, and columns that differ by design, with the reason (docs/restore.md).
NOT_RESTORED = {"user_sessions": "a session's key is never exported: everyone logs in again"}
WRITTEN_BY_TARGET = ("audit_events", "notices")
DIFFERS = {("api_tokens", "revoked_at"): "a restored token is revoked: the token itself was never exported"}


def round_trip_differences(original, restored, merged_emails=()):
    """Every difference between two archives once ids and foreign keys are mapped, apart from what restore
    changes by design (NOT_RESTORED, DIFFERS, the merged accounts' own fields, and the audit events the target
    company had or wrote itself)."""
    manifest = manifest_of(original)
    ids, differences = {}, []
    for entry in manifest["files"]:
        entity = entry["entity"]
        if entity in ("company", "attachment_files") or entity in NOT_RESTORED:
            continue
        mine, theirs = csv_rows(original, entry["path"]), csv_rows(restored, entry["path"])
        if entity in WRITTEN_BY_TARGET:  # what the target company wrote itself came after the export
            exported_at = datetime.fromisoformat(manifest["created_at"])
            theirs = [row for row in theirs if datetime.fromisoformat(row["created_at"]) <= exported_at]
        pairs = _pairs(entity, mine, theirs, differences)
        ids[entity] = {a["id"]: b["id"] for a, b in pairs}
        for a, b in pairs:
            differences += _row_differences(entity, entry, a, b, ids, merged_emails)
    return differences


def _pairs(entity, mine, theirs, differences):
    key = MATCH_BY.get(entity)
    if key:
        by_key = {row[key].lower(): row for row in theirs}
        missing = [row[key] for row in mine if row[key].lower() not in by_key]
        differences += [f"{entity}: {value} was not restored" for value in missing]
        return [(row, by_key[row[key].lower()]) for row in mine if row[key].lower() in by_key]
    if len(mine) != len(theirs):
        differences.append(f"{entity}: {len(mine)} rows exported, {len(theirs)} after the restore")
    return list(zip(mine, theirs, strict=False))


def _row_differences(entity, entry, a, b, ids, merged_emails):
    if entity == "users" and a["email"].lower() in merged_emails:
        return []
    found = []
    for column in entry["columns"]:
        name, target = column["name"], column.get("references")
        if name == "id" or (entity, name) in DIFFERS:
            continue
        expected = a[name]
        if target and expected and target in ids:
            expected = ids[target].get(expected, f"unmapped {expected}")
        if column["type"] == "file" and expected:
            folder, row_id, filename = expected.rsplit("/", 2)
            expected = f"{folder}/{ids[entity][row_id]}/{filename}"
        if expected != b[name]:
            found.append(f"{entity} {a['id']}.{name}: {expected!r} became {b[name]!r}")
    return found
