"""An archive is checked before a restore writes anything: each kind of damage is found and named by file."""

import io
import json
import subprocess
import sys
import zipfile

import pytest

from keel.datacontrol.restore.archive import Archive, InvalidArchive, UnsupportedArchiveVersion
from keel.datacontrol.restore.tests.archives import rewrite_archive
from keel.datacontrol.restore.verify import verify


def problems_of(data):
    return [str(p) for p in verify(Archive(io.BytesIO(data)))]


def member(data, path):
    return zipfile.ZipFile(io.BytesIO(data)).read(path)


def test_an_intact_archive_has_no_problem(filled_archive):
    data, _ = filled_archive
    assert problems_of(data) == []


def test_a_file_that_is_not_a_zip_is_refused():
    with pytest.raises(InvalidArchive, match="not a ZIP archive"):
        Archive(io.BytesIO(b"name,email\nAda,ada@example.com\n"))


def test_a_zip_without_keel_manifest_is_refused():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("contacts.csv", "id\n1\n")
    with pytest.raises(InvalidArchive, match="no manifest.json"):
        Archive(io.BytesIO(out.getvalue()))


def test_a_newer_format_version_is_refused_naming_it(filled_archive):
    data, _ = filled_archive
    newer = rewrite_archive(data, edit_manifest=lambda m: m.update(format_version=7))
    with pytest.raises(UnsupportedArchiveVersion, match="format version 7") as refused:
        Archive(io.BytesIO(newer))
    assert refused.value.code == "unsupported_archive_version"


def test_a_changed_byte_is_found_by_the_checksum(filled_archive):
    data, _ = filled_archive
    contacts = member(data, "contacts.csv").replace(b"person1@", b"person9@")
    damaged = rewrite_archive(data, replace={"contacts.csv": contacts}, fix_checksums=False)
    assert problems_of(damaged) == [
        "contacts.csv: its SHA-256 does not match the manifest (the file was changed or damaged)."
    ]


def test_a_wrong_row_count_is_found(filled_archive):
    data, _ = filled_archive

    def claim_more_notes(manifest):
        next(f for f in manifest["files"] if f["entity"] == "notes")["rows"] += 1

    problems = problems_of(rewrite_archive(data, edit_manifest=claim_more_notes))
    assert problems == ["notes.csv: holds 7 rows; the manifest says 8."]


def test_a_header_that_does_not_match_the_manifest_is_found(filled_archive):
    data, _ = filled_archive
    tags = member(data, "tags.csv").replace(b"id,name", b"id,label", 1)
    assert problems_of(rewrite_archive(data, replace={"tags.csv": tags})) == [
        "tags.csv: its header row does not match the columns the manifest lists."
    ]


def test_a_reference_to_a_row_not_in_the_archive_is_found(filled_archive):
    data, made = filled_archive
    first = made.contacts[0].pk
    events = member(data, "contact_events.csv").replace(
        f"\r\n{_first_event_id(data)},{first},".encode(), f"\r\n{_first_event_id(data)},999999,".encode()
    )
    problems = problems_of(rewrite_archive(data, replace={"contact_events.csv": events}))
    assert problems == [
        "contact_events.csv: contact_id points at contacts rows that are not in the archive (ids 999999)."
    ]


def test_a_changed_attachment_is_found(filled_archive):
    data, _ = filled_archive
    names = [n for n in zipfile.ZipFile(io.BytesIO(data)).namelist() if n.endswith(".pdf")]
    damaged = rewrite_archive(data, replace={names[0]: b"%PDF-1.4 something else"})
    assert problems_of(damaged) == [f"{names[0]}: its size or SHA-256 does not match attachments/index.csv."]


def test_keel_verify_archive_exits_0_when_intact_and_1_naming_each_problem(filled_archive, tmp_path):
    data, _ = filled_archive
    intact = tmp_path / "intact.zip"
    intact.write_bytes(data)
    damaged = tmp_path / "damaged.zip"
    damaged.write_bytes(rewrite_archive(data, replace={"tags.csv": b"id,name\r\n"}, fix_checksums=False))

    ok = _keel("verify-archive", str(intact))
    assert ok.returncode == 0, ok.stderr
    assert "ok       contacts.csv (7 rows, SHA-256 matches)" in ok.stdout
    assert "Intact: the export of Acme" in ok.stdout

    bad = _keel("verify-archive", str(damaged))
    assert bad.returncode == 1
    assert "DAMAGED  tags.csv: holds 0 rows; the manifest says 1." in bad.stdout
    assert "DAMAGED  tags.csv: its SHA-256 does not match the manifest" in bad.stdout
    assert "the archive is damaged" in bad.stderr

    missing = _keel("verify-archive", str(tmp_path / "nothing.zip"))
    assert missing.returncode != 0 and "Cannot read" in missing.stderr


def _first_event_id(data):
    lines = member(data, "contact_events.csv").decode().split("\r\n")
    return lines[1].split(",")[0]


def _keel(*args):
    return subprocess.run([sys.executable, "-m", "keel.cli", *args], capture_output=True, text=True, timeout=60)


def test_the_manifest_lists_every_file_it_checks(filled_archive):
    data, _ = filled_archive
    manifest = json.loads(member(data, "manifest.json"))
    assert {f["path"] for f in manifest["files"]} >= {"contacts.csv", "attachments/index.csv", "company.csv"}
