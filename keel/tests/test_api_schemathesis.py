"""The API held to its own OpenAPI document by schemathesis (`st run`, every default check, every phase).

A live server answers a generated client: zero server errors, zero responses that break the document, zero
undocumented status codes. The run is bounded (few examples per operation, a time budget) and deterministic, so that
it can run in CI on every push. Operations that destroy the caller's own access or the company's data run in their
own small pass, each against a company of its own.
"""

import subprocess
import sys
from pathlib import Path

import pytest

from keel.accounts.actions import do_create_api_token
from keel.testing import grant, make_company

pytestmark = pytest.mark.django_db(transaction=True)

SCHEMATHESIS = Path(sys.executable).with_name("st")

# Operations that end the caller's access (its password, its tokens) or delete the company's data: once one of them
# has succeeded every later request of a run answers 401 or finds nothing, so they are kept out of the main pass.
DESTRUCTIVE_OPERATIONS = (
    "deleteCompany",
    "deleteAllCrmRecords",
    "resetUserPassword",
    "revokeMyTokens",
    "updateUser",
)

# positive_data_acceptance: a request the document allows may still be refused by rules about other rows, which
# no schema can state: e-mail already taken, contact ids of no contact, a name in use, the last administrator.
CONFIG = """
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "401", "403", "404", "409", "422", "429"]
"""


def run_schemathesis(live_server, tmp_path, token, *options, max_examples=5, max_time=60):
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    command = [
        str(SCHEMATHESIS),
        "--config-file",
        str(config),
        "run",
        f"{live_server.url}/api/v1/openapi.json",
        "--header",
        f"Authorization: Bearer {token}",
        "--max-examples",
        str(max_examples),
        "--generation-deterministic",
        "--workers",
        "1",
        "--no-color",
        *options,
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=max_time + 120, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-5000:]
    return result


def api_token(company, *permissions):
    for permission in permissions:
        grant(company, permission)
    return do_create_api_token(company.admin, "schemathesis")[1]


def test_every_operation_keeps_to_the_document(live_server, tmp_path):
    company = make_company("Acme", plan="enterprise")
    token = api_token(company)
    excluded = [option for op in DESTRUCTIVE_OPERATIONS for option in ("--exclude-operation-id", op)]
    run_schemathesis(live_server, tmp_path, token, *excluded, max_examples=8, max_time=90)


@pytest.mark.parametrize("operation_id", DESTRUCTIVE_OPERATIONS)
def test_destructive_operations_keep_to_the_document(live_server, tmp_path, operation_id):
    company = make_company("Initech", plan="enterprise")
    token = api_token(company, "delete_all_crm_records")
    run_schemathesis(
        live_server, tmp_path, token, "--include-operation-id", operation_id, "--phases", "examples,coverage,fuzzing"
    )
