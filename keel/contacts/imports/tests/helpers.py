"""Helpers of the import tests: upload a CSV through the API, run the job, read the error report and the stored
files."""

import csv
import io
import json

from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile

from keel.testing import run_queued_jobs


def upload(content, name="contacts.csv"):
    data = content.encode("utf-8") if isinstance(content, str) else content
    return SimpleUploadedFile(name, data, content_type="text/csv")


def start(api, content, name="contacts.csv", **form):
    if "mapping" in form and not isinstance(form["mapping"], str):
        form["mapping"] = json.dumps(form["mapping"])
    return api.upload("imports", {"file": upload(content, name)}, form)


def import_now(api, content, **form):
    response = start(api, content, **form)
    assert response.status_code == 202, response.content
    [job] = run_queued_jobs()
    return job


def report_rows(api, job):
    response = api.get(f"imports/{job.pk}/errors")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv"
    body = b"".join(response.streaming_content).decode("utf-8")
    return list(csv.reader(io.StringIO(body)))


def stored_files(company):
    root = f"companies/{company.pk}/imports"
    names = []

    def walk(directory):
        try:
            dirs, files = default_storage.listdir(directory)
        except FileNotFoundError:
            return
        names.extend(f"{directory}/{f}" for f in files)
        for d in dirs:
            walk(f"{directory}/{d}")

    walk(root)
    return sorted(names)
