"""Archives for the restore tests: a real export of a company, and ways to damage it (no tests here)."""

import hashlib
import io
import json
import zipfile

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
