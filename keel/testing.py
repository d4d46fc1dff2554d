"""Test helpers shared by every app: build companies and users, call the API, run queued jobs inline."""

import itertools
import json

from django.test import Client

from keel.accounts import permissions
from keel.accounts.actions import do_create_api_token, do_create_company
from keel.accounts.models import Role, User

PASSWORD = "correct horse battery"
_counter = itertools.count(1)


def make_company(name, plan="standard"):
    """A company with built-in roles and its Company Administrator, reachable as ``company.admin``."""
    ensure_plans()
    slug = name.lower().replace(" ", "")
    company, admin = do_create_company(f"{name}", f"admin{next(_counter)}@{slug}.test", PASSWORD, plan=plan)
    company.admin = admin
    return company


def make_user(company, role_kind="member", email=None, **fields):
    role = Role.objects.get(company=company, kind=role_kind)
    email = email or f"{role_kind}{next(_counter)}@{company.slug}.test"
    return User.objects.create_user(email, PASSWORD, company=company, role=role, **fields)


def grant(company, permission, role_kind=permissions.ADMIN):
    role = Role.objects.get(company=company, kind=role_kind)
    role.permissions = sorted(set(role.permissions) | {permission})
    role.save()
    return role


class ApiClient:
    """Calls /api/v1 with a bearer token, sending and decoding JSON."""

    def __init__(self, user):
        self.user = user
        _, self.token = do_create_api_token(user, "tests")
        self.client = Client()

    def _call(self, method, path, data=None, **extra):
        url = path if path.startswith("/") else f"/api/v1/{path}"
        headers = {"HTTP_AUTHORIZATION": f"Bearer {self.token}", **extra}
        if method == "get":
            return self.client.get(url, data or {}, **headers)
        body = json.dumps(data) if data is not None else ""
        return getattr(self.client, method)(url, body, content_type="application/json", **headers)

    def get(self, path, data=None, **extra):
        return self._call("get", path, data, **extra)

    def post(self, path, data=None, **extra):
        return self._call("post", path, data, **extra)

    def patch(self, path, data=None, **extra):
        return self._call("patch", path, data, **extra)

    def delete(self, path, **extra):
        return self._call("delete", path, **extra)

    def upload(self, path, files, data=None):
        url = path if path.startswith("/") else f"/api/v1/{path}"
        return self.client.post(url, {**(data or {}), **files}, HTTP_AUTHORIZATION=f"Bearer {self.token}")


def run_queued_jobs():
    """Run every queued job inline, in order, exactly as the worker's task would. Returns the jobs run."""
    from keel.jobs.models import DataJob
    from keel.jobs.runner import run_job

    finished = []
    while True:
        job = DataJob.objects.filter(state=DataJob.State.QUEUED).order_by("id").first()
        if job is None:
            return finished
        finished.append(run_job(job.pk))


def ensure_plans():
    """Plans come from a data migration; tests that flush tables (live server, transactional) restore them."""
    from keel.accounts.models import Plan

    for code, name, allows_export, per_day in (
        ("free", "Free", False, 0),
        ("standard", "Standard", True, 5),
        ("enterprise", "Enterprise", True, 20),
    ):
        Plan.objects.get_or_create(
            code=code, defaults={"name": name, "allows_export": allows_export, "exports_per_day": per_day}
        )


def test_database_url():
    """A DATABASE_URL naming the database the tests run on, for processes the tests start (the worker)."""
    from django.db import connection

    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def start_worker(extra_env=None):
    """A real ``keel worker`` process on the test database."""
    import os
    import subprocess
    import sys

    env = {
        **os.environ,
        "DATABASE_URL": test_database_url(),
        "KEEL_JOB_HEARTBEAT_SECONDS": "0.5",
        **(extra_env or {}),
    }
    return subprocess.Popen([sys.executable, "-m", "keel.cli", "worker", "--interval", "0.2"], env=env)


def stop_process(process):
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except Exception:
            process.kill()
            process.wait()


def wait_for(condition, timeout=60, interval=0.05, what="the condition"):
    """Poll ``condition()`` until it is true (a worker process does the work meanwhile); fail after ``timeout``."""
    import time

    from django.db import connection

    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        if not connection.in_atomic_block:
            connection.close()  # see the worker's newest commits on the next query
        time.sleep(interval)
