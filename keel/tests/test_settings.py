"""Settings that fail loudly: a bad environment variable stops start-up with a sentence naming it (keel/env.py)."""

import os
import subprocess
import sys

import pytest

from keel import env


def start(variables, *args):
    """`keel check` (or another command) in its own process with these environment variables."""
    return subprocess.run(
        [sys.executable, "-m", "keel.cli", *(args or ["check"])],
        env={**os.environ, **variables},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    "variable,value,sentence",
    [
        ("KEEL_DEBUG", "ture", "KEEL_DEBUG='ture' is not a yes-or-no value; use one of: true, 1, yes, on, false"),
        ("KEEL_BATCH_SIZE", "abc", "KEEL_BATCH_SIZE='abc' is not a whole number"),
        ("KEEL_BATCH_SIZE", "0", "KEEL_BATCH_SIZE=0 is too small; use 1 or more."),
        ("KEEL_JOB_LEASE_SECONDS", "soon", "KEEL_JOB_LEASE_SECONDS='soon' is not a number"),
        ("KEEL_LOG_LEVEL", "loud", "KEEL_LOG_LEVEL='loud' is not an accepted value; use one of: debug, info"),
        ("KEEL_SITE_URL", "crm.example.com", "KEEL_SITE_URL='crm.example.com' is not an absolute URL"),
        ("DATABASE_URL", "mysqlx://db/keel", "DATABASE_URL='mysqlx://db/keel' is not a database URL Keel can use"),
    ],
)
def test_a_bad_value_stops_start_up_with_a_sentence_naming_the_variable(variable, value, sentence):
    done = start({variable: value})
    assert done.returncode != 0
    assert f"Keel cannot start: {sentence}" in done.stderr
    assert "Traceback" not in done.stderr


def test_good_values_start(tmp_path):
    done = start({"KEEL_DEBUG": "off", "KEEL_BATCH_SIZE": "500", "KEEL_SITE_URL": "https://crm.example.com/"})
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("value,expected", [("TRUE", True), (" yes ", True), ("1", True), ("off", False), ("", None)])
def test_yes_or_no_words(monkeypatch, value, expected):
    monkeypatch.setenv("KEEL_SOME_FLAG", value)
    assert env.boolean("KEEL_SOME_FLAG", None) is expected


def test_the_site_url_loses_its_trailing_slashes(monkeypatch):
    monkeypatch.setenv("KEEL_SITE_URL", "https://crm.example.com/keel//")
    assert env.url("KEEL_SITE_URL", "http://127.0.0.1:8000") == "https://crm.example.com/keel"
    monkeypatch.delenv("KEEL_SITE_URL")
    assert env.url("KEEL_SITE_URL", "http://127.0.0.1:8000") == "http://127.0.0.1:8000"
