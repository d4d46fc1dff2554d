"""The JSON API under /api/v1: one NinjaAPI, one router per app, one error shape."""

import json

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.utils.log import log_response
from ninja import NinjaAPI, Swagger
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.parser import Parser

from keel import openapi
from keel.accounts.api_auth import authenticate
from keel.errors import KeelError


class BodyNotAnObject(ValueError):
    def __init__(self, message, field="body"):
        super().__init__(message)
        self.field = field


JSON_TYPE_NAMES = {list: "an array", str: "a string", bool: "a boolean", int: "a number", float: "a number"}


class ObjectBodyParser(Parser):
    """A JSON body must be an object: django-ninja would otherwise read the fields of ``[null, null]`` or ``42`` as
    all missing, and start an export of everything or answer a PATCH with 200 changing nothing."""

    def parse_body(self, request):
        data = json.loads(request.body)
        if not isinstance(data, dict):
            kind = JSON_TYPE_NAMES.get(type(data), "null")
            raise BodyNotAnObject(f"The request body must be a JSON object ({{...}}), not {kind}.")
        if where := nul_character_at(data):
            # No database stores it in text (PostgreSQL refuses it outright), and no person types it.
            raise BodyNotAnObject("Text cannot contain the NUL character (\\u0000).", field=where)
        return data


def nul_character_at(value, path=""):
    """The dotted path of the first text (value or key) holding a NUL character, or "" when there is none."""
    if isinstance(value, str):
        return path or "body" if "\x00" in value else ""
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        here = f"{path}.{key}" if path else str(key)
        if isinstance(key, str) and "\x00" in key:
            return here
        if found := nul_character_at(item, here):
            return found
    return ""


class ApiAuth:
    """Bearer token or session cookie (keel.accounts.api_auth); the attribute marks the operations that need it in
    the OpenAPI document, where keel.openapi names both schemes."""

    openapi_security_schema = openapi.SECURITY_SCHEMES["bearerToken"]

    def __call__(self, request):
        return authenticate(request)


class KeelNinjaAPI(NinjaAPI):
    def get_openapi_operation_id(self, operation):
        return openapi.operation_id(operation.view_func.__name__)

    def get_openapi_schema(self, *, path_prefix=None, path_params=None):
        document = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        return openapi.complete(document)


api = KeelNinjaAPI(
    title="Keel API",
    version="1",
    description=(
        "Authenticate with `Authorization: Bearer <token>` (POST /auth/token) or a browser session. Every error "
        'answers `{"error": {"code", "message", "field"?}}`. Long lists are keyset-paginated: they answer '
        '`{"items": [...]}` with a `next_after` or `next_before` cursor to pass back as `?after=` / `?before=` '
        "(null on the last page); the short lists of users, roles, integrations and recent imports and exports "
        "answer an array."
    ),
    auth=ApiAuth(),
    parser=ObjectBodyParser(),
    urls_namespace="api",
    docs_url="/docs",
    # Served from django-ninja's bundled copy under /static/ninja/ (ninja is in INSTALLED_APPS), never from a CDN;
    # no validator badge either, which would call validator.swagger.io.
    docs=Swagger(settings={"validatorUrl": None}),
)

SERVER_ERROR_MESSAGE = "Something went wrong on our side. It has been logged; try again later."


def error_response(request, status, code, message, **extra):
    return with_challenge(
        api.create_response(request, {"error": {"code": code, "message": message, **extra}}, status=status)
    )


def with_challenge(response):
    """A 401 names the scheme to authenticate with (RFC 9110, section 11.6.1)."""
    if response.status_code == 401:
        response["WWW-Authenticate"] = openapi.WWW_AUTHENTICATE
    return response


@api.exception_handler(KeelError)
def keel_error(request, exc):
    return with_challenge(api.create_response(request, {"error": exc.as_dict()}, status=exc.status))


@api.exception_handler(AuthenticationError)
def unauthenticated(request, exc):
    return error_response(request, 401, "unauthenticated", "Log in or send a valid API token.")


@api.exception_handler(RequestDataTooBig)
def body_too_large(request, exc):
    message = "The request body is too large for this endpoint."
    return error_response(request, 413, "body_too_large", message, field="body")


@api.exception_handler(PermissionDenied)
def permission_denied(request, exc):
    return error_response(request, 403, "permission_denied", str(exc) or "Your role does not allow this action.")


@api.exception_handler(Http404)
def not_found(request, exc):
    return error_response(request, 404, "not_found", "Not found.")


@api.exception_handler(MultiPartParserError)
def unreadable_multipart(request, exc):
    message = f"The multipart body could not be read ({exc}): send it as multipart/form-data with its boundary."
    return error_response(request, 400, "invalid_body", message, field="body")


@api.exception_handler(HttpError)
def http_error(request, exc):
    if isinstance(exc.__cause__, BodyNotAnObject):
        return error_response(request, 422, "invalid_input", str(exc.__cause__), field=exc.__cause__.field)
    if exc.status_code == 400 and str(exc).startswith("Cannot parse request body"):
        message = "The request body could not be read: send JSON with Content-Type: application/json."
        return error_response(request, 400, "invalid_body", message, field="body")
    return error_response(request, exc.status_code, "http_error", str(exc))


@api.exception_handler(ValidationError)
def invalid_input(request, exc):
    if any(err.get("loc", ())[:1] == ("path",) for err in exc.errors):
        # /contacts/abc: no such object, as with routes whose path converter only matches digits.
        return not_found(request, exc)
    fields = []
    for err in exc.errors:
        loc = [str(part) for part in err.get("loc", ()) if part not in ("body", "payload", "query", "path")]
        fields.append({"field": ".".join(loc) or "body", "message": err.get("msg", "is invalid")})
    summary = "; ".join(f"{f['field']}: {f['message']}" for f in fields) or "The request is invalid."
    return error_response(request, 422, "invalid_input", summary, fields=fields)


@api.exception_handler(Exception)
def server_error(request, exc):
    """Any other exception: logged with its traceback, as Django logs one on a page, and answered in the error shape
    (django-ninja would otherwise re-raise it into Django's HTML 500 page, or show a traceback with DEBUG on)."""
    response = error_response(request, 500, "server_error", SERVER_ERROR_MESSAGE)
    log_response("Internal Server Error: %s", request.path, response=response, request=request, exception=exc)
    return response


class JsonApiErrors:
    """Middleware: the 404 of an unknown /api/v1 path, the 405 of a wrong method and a 500 raised outside a view (a
    middleware's exception, answered by Django's handler after logging it) answer in the API's error shape too;
    Django's URL resolver and Ninja's method dispatch would otherwise answer them in HTML or plain text."""

    MESSAGES = {
        400: ("bad_request", "The request could not be read."),
        404: ("not_found", "Not found: no API endpoint has this path."),
        405: ("method_not_allowed", "This API endpoint does not accept the {method} method."),
        500: ("server_error", SERVER_ERROR_MESSAGE),
    }

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        known = self.MESSAGES.get(response.status_code)
        if known is None or not request.path.startswith("/api/v1/") or "json" in response.get("Content-Type", ""):
            return response
        code, message = known
        answer = JsonResponse({"error": {"code": code, "message": message.format(method=request.method)}})
        answer.status_code = response.status_code
        if response.has_header("Allow"):
            answer["Allow"] = response["Allow"]
        return answer


def register_routers():
    # Imported here, not at module top, so that each app's api module can import keel.api helpers.
    from keel.accounts.api import router as accounts_router
    from keel.audit.api import router as audit_router
    from keel.contacts.api import router as contacts_router
    from keel.datacontrol.api import router as datacontrol_router
    from keel.integrations.api import router as integrations_router
    from keel.jobs.api import router as jobs_router
    from keel.marketing.api import router as marketing_router

    for router in (
        accounts_router,
        audit_router,
        contacts_router,
        marketing_router,
        integrations_router,
        jobs_router,
        datacontrol_router,
    ):
        api.add_router("", router)


register_routers()
