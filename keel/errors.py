"""Errors that carry what a person needs to read: an HTTP status, a snake_case code and a sentence.

Actions raise them; the API turns them into ``{"error": {"code", "message", ...}}`` and pages into messages.
"""


class KeelError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message, *, code=None, status=None, **extra):
        super().__init__(message)
        self.message = message
        self.code = code or self.code
        self.status = status or self.status
        self.extra = extra

    def as_dict(self):
        return {"code": self.code, "message": self.message, **self.extra}


class InvalidInput(KeelError):
    status = 422
    code = "invalid_input"


class Forbidden(KeelError):
    status = 403
    code = "permission_denied"


class NotFound(KeelError):
    status = 404
    code = "not_found"


class Conflict(KeelError):
    status = 409
    code = "conflict"


class RateLimited(KeelError):
    status = 429
    code = "rate_limited"


# Every error code the API answers with, by HTTP status. The OpenAPI document states them as the enum of the error
# schema's ``code`` and lists them under each documented status; a test checks that every ``code="..."`` raised in
# the code base is listed here.
ERROR_CODES = {
    400: ("invalid_body", "bad_request"),
    401: ("unauthenticated", "invalid_credentials"),
    403: (
        "permission_denied",
        "csrf_failed",
        "plan_not_eligible",
        "reauthentication_failed",
        "verification_failed",
        "company_deleting",
        "user_deactivated",
    ),
    404: ("not_found", "no_error_report", "upload_gone"),
    405: ("method_not_allowed",),
    409: (
        "conflict",
        "operation_in_progress",
        "crm_deletion_in_progress",
        "campaign_sending",
        "deletion_in_progress",
        "deletion_blocked",
        "receipt_missing",
        "export_failed",
        "export_not_ready",
        "not_cancellable",
        "job_finished",
        "already_started",
        "campaign_not_editable",
        "campaign_already_sent",
        "campaign_not_started",
        "last_admin",
        "campaign_without_recipients",
        "company_not_empty",
        "no_backup_schedule",
    ),
    410: ("gone", "export_expired"),
    413: ("body_too_large", "file_too_large"),
    422: (
        "invalid_input",
        "confirmation_required",
        "confirmation_mismatch",
        "verification_code_required",
        "email_taken",
        "list_name_taken",
        "name_taken",
        "no_file",
        "unknown_encoding",
        "empty_file",
        "not_csv",
        "line_too_long",
        "wrong_encoding",
        "unknown_column",
        "ambiguous_column",
        "unknown_field",
        "duplicate_field",
        "email_not_mapped",
        "invalid_revoke_url",
        "invalid_url",
        "unknown_contacts",
        "unknown_plan",
        "wrong_password",
        "unknown_role",
        "user_inactive",
        "cannot_deactivate_self",
        "weak_password",
        "unknown_permission",
        "permission_not_allowed_for_role",
        "permission_required_for_admin_role",
        "invalid_archive",
        "unsupported_archive_version",
        "archive_corrupt",
        "archive_encrypted",
        "decryption_failed",
        "page_anchor_gone",
        "invalid_schedule",
        "invalid_recipient",
        "invalid_passphrase",
        "invalid_destination",
        "destination_not_allowed",
        "destination_unreachable",
    ),
    429: ("rate_limited",),
    500: ("server_error",),
}

ALL_ERROR_CODES = tuple(code for codes in ERROR_CODES.values() for code in codes)
