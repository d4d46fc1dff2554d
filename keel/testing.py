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
