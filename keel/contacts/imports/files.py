"""Where an import's files live: companies/<id>/imports/<token>/ holds the upload, its description and the error
report (with its parts while the import runs)."""

import re

from django.core.files.storage import default_storage

from keel.storage import company_folder

UPLOAD_NAME = "upload.csv"
META_NAME = "meta.json"
REPORT_NAME = "errors.csv"
PARTS_DIR = "error-parts"
TOKEN = re.compile(r"[0-9a-f]{32}")


def folder_for(company_id, token):
    return company_folder(company_id, "imports", token)


def save_file(name, content):
    """Store ``content`` under exactly ``name``."""
    stored = default_storage.save(name, content)
    if stored != name:  # a storage that renamed the file: keep nothing half-stored
        default_storage.delete(stored)
        raise RuntimeError(f"storage stored {name} as {stored}")
