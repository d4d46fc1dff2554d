"""The OpenAPI document as a generated client reads it, and the answers it promises for malformed requests."""

import json
import re
from pathlib import Path

import pytest
from django.test import Client

from keel.accounts import permissions
from keel.contacts.models import Contact
from keel.datacontrol.models import ExportArchive
from keel.errors import ALL_ERROR_CODES
from keel.jobs.models import DataJob
from keel.testing import assert_error

KEEL = Path(__file__).resolve().parents[1]


@pytest.fixture
def document(db):
    response = Client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    return json.loads(response.content, object_pairs_hook=no_duplicate_keys)


def no_duplicate_keys(pairs):
    keys = [key for key, _ in pairs]
    assert len(keys) == len(set(keys)), keys  # Swagger UI refuses a document with a key twice
    return dict(pairs)


def operations(document):
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


def test_operation_ids_are_short_unique_camel_case(document):
    ids = [operation["operationId"] for _, _, operation in operations(document)]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[a-z]+(?:[A-Z][a-z]*)*", op_id) for op_id in ids), ids
    assert {"listContacts", "startExport", "getMe", "deleteAllCrmRecords", "getJob"} <= set(ids)


def test_bearer_token_and_session_cookie_are_the_security_schemes(document):
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearerToken"] == {**schemes["bearerToken"], "type": "http", "scheme": "bearer"}
    assert schemes["sessionCookie"]["in"] == "cookie" and schemes["sessionCookie"]["name"] == "sessionid"
    public = {"createToken", "getDeletionStatus"}
    for _, _, operation in operations(document):
        if operation["operationId"] in public:
            assert "security" not in operation
        else:
            assert operation["security"] == [{"bearerToken": []}, {"sessionCookie": []}], operation["operationId"]


def test_every_error_response_uses_the_error_schema_with_its_codes(document):
    error = document["components"]["schemas"]["Error"]["properties"]["error"]
    assert error["required"] == ["code", "message"] and "field" in error["properties"]
    assert error["properties"]["code"]["enum"] == list(ALL_ERROR_CODES)
    for _, _, operation in operations(document):
        statuses = {int(status) for status in operation["responses"]}
        assert 500 in statuses
        if "security" in operation:
            assert {401, 403} <= statuses
            assert "WWW-Authenticate" in operation["responses"]["401"]["headers"]
        if "requestBody" in operation:
            assert {400, 413, 422} <= statuses
        for status in statuses - {200, 201, 202, 204}:
            response = operation["responses"][str(status)]
            schema = response["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/Error"}, (operation["operationId"], status)
            assert "`" in response["description"]  # names the codes


def test_every_error_code_raised_in_the_code_is_in_the_catalogue():
    raised = set()
    for path in KEEL.rglob("*.py"):
        if "tests" not in path.parts:
            raised.update(re.findall(r'\bcode\s*=\s*"([a-z_]+)"', path.read_text()))
    assert raised - set(ALL_ERROR_CODES) == set()


def test_enums_for_stages_scopes_permissions_and_jobs(document):
    schemas = document["components"]["schemas"]
    assert schemas["ContactIn"]["properties"]["lifecycle_stage"]["enum"] == Contact.Stage.values
    assert schemas["ContactPatch"]["properties"]["lifecycle_stage"]["enum"] == Contact.Stage.values
    assert set(schemas["ExportRequest"]["properties"]["scope"]["items"]["enum"]) >= {"contacts", "audit_log"}
    codes = [p.code for p in permissions.PERMISSIONS]
    assert schemas["RolePatch"]["properties"]["permissions"]["propertyNames"]["enum"] == codes
    assert schemas["MeOut"]["properties"]["permissions"]["items"]["enum"] == codes
    assert schemas["JobOut"]["properties"]["kind"]["enum"] == DataJob.Kind.values
    assert schemas["JobOut"]["properties"]["state"]["enum"] == DataJob.State.values


def test_constraints_the_server_enforces_are_stated(document):
    schemas = document["components"]["schemas"]
    contact = schemas["ContactIn"]["properties"]
    assert contact["first_name"]["maxLength"] == 100 and contact["email"]["maxLength"] == 254
    assert {"type": "string", "format": "email"} in contact["email"]["anyOf"]
    assert contact["custom_fields"]["maxProperties"] == 100
    crm = schemas["DeleteAllCrmIn"]
    assert crm["required"] == ["confirm"] and crm["properties"]["confirm"]["const"] is True
    assert schemas["CampaignIn"]["properties"]["name"]["maxLength"] == 150
    assert schemas["ContactIds"]["properties"]["contact_ids"]["minItems"] == 1


def test_file_downloads_are_documented_as_files(document):
    download = document["paths"]["/api/v1/exports/{export_id}/download"]["get"]["responses"]["200"]
    assert list(download["content"]) == ["application/zip", "application/octet-stream"]  # .zip, or .zip.age


# --- malformed requests -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("body", ["[null, null]", "42", '"scope"', "null", "true"])
def test_a_json_body_that_is_not_an_object_is_422_and_starts_nothing(api, body):
    response = api.client.post(
        "/api/v1/exports", body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {api.token}"
    )
    assert assert_error(response, 422, "invalid_input")["field"] == "body"
    assert not ExportArchive.objects.exists()


def test_a_patch_with_a_body_that_is_not_an_object_changes_nothing(api, company):
    contact = Contact.objects.create(company=company, email="ada@example.com", first_name="Ada")
    path, auth = f"/api/v1/contacts/{contact.pk}", f"Bearer {api.token}"
    response = api.client.patch(path, "42", content_type="application/json", HTTP_AUTHORIZATION=auth)
    assert "JSON object" in assert_error(response, 422, "invalid_input")["message"]


@pytest.mark.parametrize(
    "method,path",
    [
        ("get", "users/abc"),
        ("patch", "users/abc"),
        ("post", "users/abc/reset-password"),
        ("get", "roles/1.5"),
        ("patch", "roles/x"),
        ("get", "integrations/abc"),
        ("delete", "integrations/abc"),
        ("get", "contacts/abc"),
        ("get", "jobs/-1"),
        ("get", "exports/abc"),
        ("get", "campaigns/abc"),
    ],
)
def test_a_path_id_that_is_not_an_integer_is_404(api, method, path):
    call = getattr(api, method)
    response = call(path) if method in ("get", "delete") else call(path, {"role_id": 1})
    assert_error(response, 404, "not_found")


def test_a_body_over_the_limit_is_413_in_the_error_shape(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = api.post("contacts", {"first_name": "x" * 2000})
    assert assert_error(response, 413, "body_too_large")["field"] == "body"


def test_a_multipart_body_without_boundary_is_400(api):
    response = api.client.post(
        "/api/v1/imports", b"--x\r\n", content_type="multipart/form-data", HTTP_AUTHORIZATION=f"Bearer {api.token}"
    )
    assert_error(response, 400, "invalid_body")


def test_an_encoding_name_with_a_nul_character_is_refused(api):
    from keel.tests.test_api_contract import csv_file

    response = api.upload("imports", {"file": csv_file()}, {"encoding": "utf\x008"})
    assert_error(response, 422, "unknown_encoding")


@pytest.mark.parametrize("headers", [{}, {"HTTP_AUTHORIZATION": "Bearer not-a-token"}])
def test_401_carries_www_authenticate(db, headers):
    response = Client().get("/api/v1/me", **headers)
    assert_error(response, 401, "unauthenticated")
    assert response["WWW-Authenticate"].startswith("Bearer ")


def test_bad_credentials_401_carries_www_authenticate(admin):
    response = Client().post(
        "/api/v1/auth/token", {"email": admin.email, "password": "wrong"}, content_type="application/json"
    )
    assert_error(response, 401, "invalid_credentials")
    assert response["WWW-Authenticate"].startswith("Bearer ")


def test_an_event_time_must_be_an_iso_string_not_a_number(api, company):
    contact = Contact.objects.create(company=company, email="ada@example.com")
    response = api.post(f"contacts/{contact.pk}/events", {"kind": "call", "title": "Called", "occurred_at": 0})
    assert "occurred_at" in assert_error(response, 422, "invalid_input")["message"]
    later = {"kind": "call", "title": "Called", "occurred_at": "2026-05-01T09:30:00Z"}
    assert api.post(f"contacts/{contact.pk}/events", later).status_code == 201


def test_text_holding_a_nul_character_is_refused_naming_the_field(api, company):
    response = api.post("contacts", {"email": "ada@example.com", "first_name": "Ada\u0000"})
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "first_name"
    nested = api.post("contacts", {"email": "bob@example.com", "custom_fields": {"plan": ["gold", "x\u0000"]}})
    assert nested.status_code == 422 and nested.json()["error"]["field"] == "custom_fields.plan.1"
