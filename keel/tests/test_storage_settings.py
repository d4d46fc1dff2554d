"""KEEL_STORAGE_BACKEND=s3: configured from the environment, and refused with a sentence when the bucket is missing."""

import os
import subprocess
import sys

SHOW_STORAGE = (
    "import django; django.setup(); from django.core.files.storage import storages; s = storages['default']; "
    "print(type(s).__name__, s.bucket_name, s.endpoint_url, s.region_name)"
)


def run_settings(**env):
    environ = {**os.environ, "DJANGO_SETTINGS_MODULE": "keel.settings", **env}
    for name in ("KEEL_STORAGE_BACKEND", "KEEL_S3_BUCKET", "KEEL_S3_ENDPOINT_URL", "KEEL_S3_REGION"):
        if name not in env:
            environ.pop(name, None)
    return subprocess.run([sys.executable, "-c", SHOW_STORAGE], env=environ, capture_output=True, text=True)


def test_s3_backend_stores_in_the_configured_bucket():
    done = run_settings(
        KEEL_STORAGE_BACKEND="s3",
        KEEL_S3_BUCKET="keel-files",
        KEEL_S3_ENDPOINT_URL="http://127.0.0.1:9000",
        KEEL_S3_REGION="eu-west-1",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["S3Storage", "keel-files", "http://127.0.0.1:9000", "eu-west-1"]


def test_s3_backend_without_a_bucket_stops_with_a_sentence_naming_the_variable():
    done = run_settings(KEEL_STORAGE_BACKEND="s3")
    assert done.returncode != 0
    assert "KEEL_STORAGE_BACKEND=s3 needs KEEL_S3_BUCKET" in done.stderr
