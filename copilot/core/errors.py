"""Errors a user can act on. Each carries the HTTP status the API answers with; nothing here imports HTTP."""

from __future__ import annotations


class CopilotError(Exception):
    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code


class BadRequest(CopilotError):
    status_code = 400
    code = "bad_request"


class Unauthorized(CopilotError):
    status_code = 401
    code = "unauthorized"


class Forbidden(CopilotError):
    status_code = 403
    code = "forbidden"


class NotFound(CopilotError):
    status_code = 404
    code = "not_found"


class Conflict(CopilotError):
    status_code = 409
    code = "conflict"


class PayloadTooLarge(CopilotError):
    status_code = 413
    code = "payload_too_large"


class Unprocessable(CopilotError):
    status_code = 422
    code = "unprocessable"


class ConfigError(CopilotError):
    """A setting that cannot work (bad database URL, missing model path): the CLI exits non-zero with it."""

    status_code = 500
    code = "config_error"


class RateLimited(CopilotError):
    """Too many requests for one token; ``retry_after`` seconds until the window lets the next one in."""

    status_code = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = max(1, int(retry_after))


class Busy(CopilotError):
    """A shared resource (the knowledge base's writer lock) stayed taken longer than this request waits;
    ``retry_after`` seconds is a fair guess for the next try. The API answers 503 with Retry-After."""

    status_code = 503
    code = "busy"

    def __init__(self, message: str, *, code: str | None = None, retry_after: int) -> None:
        super().__init__(message, code=code)
        self.retry_after = max(1, int(retry_after))
