"""The check an archive passes before a restore writes anything, and that `keel verify-archive` runs offline.

Every file the manifest lists is read once, as a stream: its SHA-256 and row count must match the manifest, its
header must match the manifest's columns, no id may appear twice, and every foreign key must point at a row of the
archive (a reference into an entity the archive's scope left out is allowed: restore says what it skipped).
Attachments must be in the archive with the size and SHA-256 that attachments/index.csv gives them.
"""

from dataclasses import dataclass

from keel.datacontrol.restore.archive import ATTACHMENT_INDEX, ArchiveCorrupt, HashingReader
from keel.datacontrol.restore.idmap import IdMap
from keel.storage import stream_digest

BATCH = 2000


@dataclass(frozen=True)
class Problem:
    path: str
    message: str

    def __str__(self):
        return f"{self.path}: {self.message}"


def reading_order(archive):
    """Entities with the ones they reference first, so that a reference is checked against ids already seen."""
    remaining = {e: _targets(entry, archive) for e, entry in archive.files.items() if e != ATTACHMENT_INDEX}
    ordered = []
    while remaining:
        ready = sorted(e for e, targets in remaining.items() if not (targets - {e}) & set(remaining))
        if not ready:
            ready = sorted(remaining)  # a cycle: each reference is still checked, against what has been read
        ordered.extend(ready)
        for entity in ready:
            del remaining[entity]
    return ordered


def _targets(entry, archive):
    return {c["references"] for c in entry["columns"] if c.get("references") and archive.has(c["references"])}


def verify(archive, progress=None, ids=None):
    """Every problem found (an empty list means intact). ``ids`` (an IdMap) is filled with the archive's ids;
    ``progress`` advances by one per row and stored file read."""
    owned = ids is None
    ids = ids or IdMap()
    problems = []
    try:
        unreadable = set()
        for entity in reading_order(archive):
            found = _verify_file(archive, entity, ids, progress, unreadable)
            problems += found
        if archive.has(ATTACHMENT_INDEX):
            problems += _verify_attachments(archive, progress)
    finally:
        if owned:
            ids.close()
    return problems


def verify_or_raise(archive, progress=None, ids=None):
    problems = verify(archive, progress, ids)
    if problems:
        first = problems[0]
        more = f" ({len(problems) - 1} more problems)" if len(problems) > 1 else ""
        raise ArchiveCorrupt(f"The archive is damaged: {first}{more}", file=first.path)


def _verify_file(archive, entity, ids, progress, unreadable):
    """The problems of one file. A file that cannot be read at all joins ``unreadable``: references into it are
    then not reported again, one by one, as pointing at missing rows."""
    entry = archive.files[entity]
    path = entry["path"]
    try:
        reader = HashingReader(archive.open_member(path))
        rows = archive.raw_rows(entity, reader)
        counted, problems = _check_rows(archive, entity, rows, ids, progress, unreadable)
    except ArchiveCorrupt as exc:
        unreadable.add(entity)
        return [Problem(path, exc.message.removeprefix(f"{path}: ").removeprefix(f"{path} "))]
    except UnicodeDecodeError:
        unreadable.add(entity)
        return [Problem(path, "is not UTF-8 text.")]
    if reader.sha256.hexdigest() != entry["sha256"]:
        problems.insert(0, Problem(path, "its SHA-256 does not match the manifest (the file was changed or damaged)."))
    if counted != entry["rows"]:
        problems.insert(0, Problem(path, f"holds {counted:,} rows; the manifest says {entry['rows']:,}."))
    return problems


def _check_rows(archive, entity, rows, ids, progress, unreadable):
    entry = archive.files[entity]
    names = [c["name"] for c in entry["columns"]]
    id_index = names.index("id") if "id" in names else None
    refs = [
        (names.index(c["name"]), c["name"], c["references"])
        for c in entry["columns"]
        if c.get("references") and c["references"] not in unreadable
    ]
    problems, counted, batch = [], 0, []
    for cells in rows:
        if len(cells) != len(names):
            problems.append(Problem(entry["path"], f"line {counted + 2} has {len(cells)} cells, not {len(names)}."))
            cells = (cells + [""] * len(names))[: len(names)]
        batch.append(cells)
        counted += 1
        if len(batch) >= BATCH:
            problems += _check_batch(archive, entity, batch, id_index, refs, ids)
            _advance(progress, len(batch))
            batch = []
    problems += _check_batch(archive, entity, batch, id_index, refs, ids)
    _advance(progress, len(batch))
    return counted, problems[:20]  # the first few name the damage; thousands of lines would hide it


def _check_batch(archive, entity, batch, id_index, refs, ids):
    path = archive.files[entity]["path"]
    problems = []
    if id_index is not None and batch:
        try:
            row_ids = [int(cells[id_index]) for cells in batch]
        except ValueError:
            return [Problem(path, "an id is not a whole number.")]
        if entity == "company":
            if row_ids != [archive.manifest["company"].get("id")]:
                problems.append(Problem(path, "does not hold exactly the company the manifest names."))
        elif duplicates := ids.add(entity, row_ids):
            problems.append(Problem(path, f"{duplicates} ids appear more than once."))
    for index, column, target in refs:
        values = {cells[index] for cells in batch if cells[index] != ""}
        problems += _check_references(archive, path, column, target, values, ids)
    return problems


def _check_references(archive, path, column, target, values, ids):
    if not values or not archive.has(target):
        return []  # the archive's scope left the target out: restore reports the rows it cannot keep
    try:
        wanted = {int(v) for v in values}
    except ValueError:
        return [Problem(path, f"{column} holds a value that is not an id.")]
    if target == "company":
        missing = wanted - {archive.manifest["company"].get("id")}
    else:
        missing = wanted - ids.known(target, wanted)
    if missing:
        sample = ", ".join(str(v) for v in sorted(missing)[:3])
        return [Problem(path, f"{column} points at {target} rows that are not in the archive (ids {sample}).")]
    return []


def _verify_attachments(archive, progress):
    index = archive.files[ATTACHMENT_INDEX]
    problems = []
    try:
        reader = HashingReader(archive.open_member(index["path"]))
        rows = archive.raw_rows(ATTACHMENT_INDEX, reader)
        for cells in rows:
            record = dict(zip([c["name"] for c in index["columns"]], cells, strict=False))
            if record.get("status") == "stored":
                problems += _verify_stored_file(archive, record)
            _advance(progress, 1)
    except ArchiveCorrupt as exc:
        return [Problem(index["path"], exc.message)]
    if reader.sha256.hexdigest() != index["sha256"]:
        problems.insert(0, Problem(index["path"], "its SHA-256 does not match the manifest."))
    return problems[:20]


def _verify_stored_file(archive, record):
    path = record["path"]
    try:
        member = archive.zip.open(path)
    except KeyError:
        return [Problem(path, "is listed in attachments/index.csv but missing from the archive.")]
    with member:
        size, sha256 = stream_digest(member)
    if sha256 != record.get("sha256") or str(size) != record.get("size"):
        return [Problem(path, "its size or SHA-256 does not match attachments/index.csv.")]
    return []


def file_sha256(fileobj):
    """The SHA-256 of a whole file, read from its start; the file is left at its start."""
    fileobj.seek(0)
    _, sha256 = stream_digest(fileobj)
    fileobj.seek(0)
    return sha256


def _advance(progress, n):
    if progress and n:
        progress.advance(n)
