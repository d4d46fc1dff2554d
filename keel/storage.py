"""Where a company's files are stored, and how a stored folder is listed and deleted.

Every file a company stores lives under ``companies/<company id>/`` in ``default_storage`` (attachments, imports,
exports, ...), so that deleting a company can list, delete and verify everything it stored. Build those names
with ``company_folder`` only:

    company_folder(7)                                   → "companies/7"
    company_folder(7, "imports", token)                 → "companies/7/imports/<token>"
    company_folder(7, "attachments", "2025/01", name)   → "companies/7/attachments/2025/01/<name>"

``walk_files(folder)`` yields every file name below a folder and ``delete_folder(folder, keep=())`` deletes them
(and the emptied folders of a local storage), returning how many it deleted. Both are safe to repeat.
"""

import hashlib
import os
import posixpath

from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import default_storage

COMPANIES_ROOT = "companies"
# A file read from a bucket is buffered in memory up to this size, then in a temporary file: memory stays flat.
S3_MEMORY_BUFFER_BYTES = 8 * 1024 * 1024


READ_CHUNK = 1024 * 1024


def stream_digest(fileobj):
    """``(size, sha256 hex)`` of what is left to read in a binary file object, read a chunk at a time."""
    digest, size = hashlib.sha256(), 0
    while chunk := fileobj.read(READ_CHUNK):
        digest.update(chunk)
        size += len(chunk)
    return size, digest.hexdigest()


def s3_storage_setting(environ):
    """``STORAGES["default"]`` for ``KEEL_STORAGE_BACKEND=s3``: django-storages' S3 backend on ``KEEL_S3_BUCKET``
    (at ``KEEL_S3_ENDPOINT_URL`` for an S3-compatible server other than AWS, in ``KEEL_S3_REGION``). Credentials
    are not settings: boto3 reads the standard AWS variables or the machine's role (docs/deployment.md)."""
    bucket = environ.get("KEEL_S3_BUCKET", "").strip()
    if not bucket:
        raise ImproperlyConfigured("KEEL_STORAGE_BACKEND=s3 needs KEEL_S3_BUCKET, the name of the bucket to store in.")
    endpoint_url = environ.get("KEEL_S3_ENDPOINT_URL", "").strip() or None
    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": bucket,
            "endpoint_url": endpoint_url,
            "region_name": environ.get("KEEL_S3_REGION", "").strip() or None,
            # An S3-compatible server (MinIO, Ceph, the tests' server) is addressed by path, AWS by host name.
            "addressing_style": "path" if endpoint_url else None,
            # As in a local folder: a name already taken gets a suffix instead of replacing another file.
            "file_overwrite": False,
            "max_memory_size": S3_MEMORY_BUFFER_BYTES,
            "default_acl": None,
        },
    }


def company_folder(company_id, *parts):
    """The storage name of a company's folder, or of a folder or file inside it.

    ``company_id`` is the company's primary key (an int or a string of digits); empty parts (``None``, ``""``) are
    left out and slashes around each part are removed, so ``company_folder(7, None)`` is ``"companies/7"``.
    """
    names = [str(part).strip("/") for part in parts if part is not None]
    return "/".join([COMPANIES_ROOT, str(int(company_id)), *[name for name in names if name]])


def company_ids_with_files(storage=None):
    """Ids of the companies that have a folder in the storage (for housekeeping that walks every company)."""
    storage = storage or default_storage
    try:
        folders = storage.listdir(COMPANIES_ROOT)[0]
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(int(name) for name in folders if name.isdigit())


def list_folder(folder, storage=None):
    """``(subfolders, files)`` directly inside a stored folder; two empty lists when it does not exist."""
    storage = storage or default_storage
    try:
        return storage.listdir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return [], []


def walk_files(folder, storage=None):
    """Every file name under ``folder``, depth first, with one folder listing in memory at a time."""
    storage = storage or default_storage
    subfolders, files = list_folder(folder, storage)
    for filename in files:
        yield posixpath.join(folder, filename)
    for subfolder in subfolders:
        yield from walk_files(posixpath.join(folder, subfolder), storage)


def delete_folder(folder, keep=(), storage=None):
    """Delete every file under ``folder`` (except the files named in ``keep`` directly inside it), then the
    folders left empty. Returns the number of files deleted; a missing folder deletes nothing."""
    storage = storage or default_storage
    deleted = 0
    if not folder:
        return deleted
    for name in walk_files(folder, storage):
        if posixpath.dirname(name) == folder and posixpath.basename(name) in keep:
            continue
        if storage.exists(name):
            storage.delete(name)
            deleted += 1
    remove_empty_folders(folder, storage)
    return deleted


def remove_empty_folders(folder, storage=None):
    """A local storage keeps emptied folders: remove the empty ones under (and including) ``folder``. Object stores
    have no folders, so nothing is done there. A folder that is not empty (a file arrived meanwhile) is kept."""
    storage = storage or default_storage
    try:
        root = storage.path(folder)
    except (NotImplementedError, AttributeError):
        return
    if not os.path.isdir(root):
        return
    for current, _dirs, _files in os.walk(root, topdown=False):
        try:
            os.rmdir(current)
        except OSError:
            pass
