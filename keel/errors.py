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
