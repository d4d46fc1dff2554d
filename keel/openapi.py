"""The OpenAPI document of /api/v1 (served at /api/v1/openapi.json), completed where django-ninja leaves gaps.

django-ninja describes each operation's parameters, body and success response from its signature. This module adds
what a generated client needs besides: short operation ids, the two ways to authenticate, and every error response
in the one error shape with its codes (keel/errors.py), so that a client generated from the document handles every
answer the server can give. ``keel/tests/test_api_schemathesis.py`` holds the server to the document.
"""

from django.conf import settings

from keel.errors import ALL_ERROR_CODES, ERROR_CODES

# Operation ids are the view function's name in camelCase (list_contacts -> listContacts), except these, whose view
# names read badly out of context.
OPERATION_IDS = {
    "me": "getMe",
    "reset_password": "resetUserPassword",
    "list_events": "listContactEvents",
    "add_event": "addContactEvent",
    "import_errors": "getImportErrors",
    "list_recipients": "listCampaignRecipients",
    "add_recipients": "addCampaignRecipients",
    "list_enrollments": "listWorkflowEnrollments",
    "add_enrollments": "enrollContacts",
    "latest_crm_records_deletion": "getLatestCrmDeletion",
    "preflight": "getCompanyDeletionPreflight",
    "deletion_status": "getDeletionStatus",
}

# Error statuses an operation answers with beyond those every operation of its shape has (see error_statuses).
OPERATION_ERRORS = {
    "createToken": (401, 403, 429),
    "updateUser": (409,),
    "resetUserPassword": (409,),
    "createContact": (409,),
    "updateContact": (409,),
    "deleteContact": (409,),
    "addContactEvent": (409,),
    "startImport": (409, 413),
    "startCampaign": (409,),
    "stopCampaign": (409,),
    "addCampaignRecipients": (409,),
    "activateWorkflow": (409,),
    "deactivateWorkflow": (409,),
    "enrollContacts": (409,),
    "cancelJob": (409,),
    "startExport": (409, 429),
    "downloadExport": (409, 410),
    "deleteExport": (409,),
    "deleteAllCrmRecords": (409,),
    "getLatestCrmDeletion": (404,),
    "deleteCompany": (409, 429),
    "getDeletionStatus": (404,),
    # A tag or list of the filter that the company does not have answers 404, as any other company's object does.
    "listContacts": (404,),
    "bulkAddTag": (404, 409),
    "bulkRemoveTag": (404, 409),
    "bulkAddToList": (404, 409),
    "bulkDelete": (404, 409),
    "addMatchingRecipients": (409,),
    "startRestore": (409,),
    "runBackupNow": (409, 429),
    "testBackupDestination": (409,),
}

# Operations whose success answer is a file, not JSON: an encrypted export is an age file (.zip.age).
FILE_RESPONSES = {"downloadExport": ("application/zip", "application/octet-stream"), "getImportErrors": ("text/csv",)}

STATUS_TITLES = {
    400: "The request body could not be read",
    401: "Not authenticated (no or an invalid token or session)",
    403: "Not allowed",
    404: "Not found",
    409: "Refused because of the current state",
    410: "No longer available",
    413: "The request body is too large",
    422: "Invalid input",
    429: "Too many requests",
    500: "Server error",
}

ERROR_SCHEMA = {
    "title": "Error",
    "description": "Every error the API answers with has this shape.",
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "enum": list(ALL_ERROR_CODES), "description": "what went wrong"},
                "message": {"type": "string", "description": "a sentence to show to a person"},
                "field": {"type": "string", "description": "the input field the error is about"},
                "fields": {
                    "type": "array",
                    "description": "invalid_input: each invalid field and what is wrong with it",
                    "items": {
                        "type": "object",
                        "required": ["field", "message"],
                        "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
                    },
                },
                "job_id": {"type": "integer", "description": "the running job that causes the refusal"},
            },
        }
    },
}

SECURITY_SCHEMES = {
    "bearerToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "A personal API token (POST /api/v1/auth/token, or the profile page).",
    },
    "sessionCookie": {
        "type": "apiKey",
        "in": "cookie",
        "name": settings.SESSION_COOKIE_NAME,
        "description": "A logged-in browser session; writes also need the csrftoken cookie's value in X-CSRFToken.",
    },
}
SECURITY = [{"bearerToken": []}, {"sessionCookie": []}]
WWW_AUTHENTICATE = 'Bearer realm="Keel API"'

UNSAFE_METHODS = ("post", "put", "patch", "delete")


def operation_id(view_name):
    if view_name in OPERATION_IDS:
        return OPERATION_IDS[view_name]
    head, *rest = view_name.split("_")
    return head + "".join(word.capitalize() for word in rest)


def error_statuses(method, operation):
    """The error statuses of an operation: those of its shape (authenticated, with input, with a JSON body, with
    an id in its path) and those OPERATION_ERRORS adds."""
    statuses = {500, *OPERATION_ERRORS.get(operation["operationId"], ())}
    if operation.get("security"):
        statuses.add(401)
        statuses.add(403)  # a missing permission, or (for writes with the session cookie) the CSRF check
    if operation.get("parameters") or "requestBody" in operation:
        statuses.add(422)
    if "requestBody" in operation:
        statuses.update((400, 413))
    if any(p["in"] == "path" for p in operation.get("parameters", ())):
        statuses.add(404)
    return sorted(statuses)


def error_response(status):
    codes = ", ".join(f"`{code}`" for code in ERROR_CODES[status])
    response = {
        "description": f"{STATUS_TITLES[status]}: {codes}",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    if status == 401:
        response["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}, "description": WWW_AUTHENTICATE}}
    return response


def complete(document):
    """Add security, error responses and file responses to django-ninja's ``document`` (changed in place)."""
    components = document.setdefault("components", {})
    components.setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    components["securitySchemes"] = SECURITY_SCHEMES
    for operations in document["paths"].values():
        for method, operation in operations.items():
            if operation.get("security"):  # django-ninja marks the operations that need authentication
                operation["security"] = SECURITY
            # django-ninja keys responses by int; JSON would hold both 200 and "200" as the same key, twice.
            responses = {str(status): answer for status, answer in operation["responses"].items()}
            operation["responses"] = responses
            for status in error_statuses(method, operation):
                responses.setdefault(str(status), error_response(status))
            media_types = FILE_RESPONSES.get(operation["operationId"], ())
            if media_types:
                binary = {"schema": {"type": "string", "format": "binary"}}
                responses["200"] = {"description": "The file", "content": {media: binary for media in media_types}}
    return document


def one_of(values, default=..., **kwargs):
    """A string field whose allowed values the document lists (the server checks them in its own words)."""
    from pydantic import Field

    return Field(default, json_schema_extra={"enum": list(values)}, **kwargs)


def list_of(values, default=..., **kwargs):
    """A list field whose items the document limits to ``values``."""
    from pydantic import Field

    return Field(default, json_schema_extra={"items": {"type": "string", "enum": list(values)}}, **kwargs)
