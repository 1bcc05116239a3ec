"""One error shape for every 4xx: ``{"error": {"code", "message"}}``."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from copilot.api.request_ids import RequestIds, request_id_of
from copilot.core.errors import Busy, CopilotError, RateLimited
from copilot.core.logging import log_event


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="allow")  # details (422), missing/wrong_type (templates), OpenAI's type/param
    code: str
    message: str


class ErrorResponse(BaseModel):
    """Every 4xx (and the 503 of a dependency that is down) has this shape."""

    error: ErrorDetail


_MEANING = {
    400: "bad request (a broken document, template or filename)",
    401: "no, an unknown, an expired or a revoked bearer token",
    403: "the caller's roles do not allow this",
    404: "unknown skill, template, model or document, or a record the caller may not see",
    409: "conflict with the current state",
    413: "request body, message, document or its extracted text over the limit",
    422: "invalid request: the message names the field",
    429: "too many requests for this token (see Retry-After)",
    503: "a dependency (model provider, database, index) is unavailable",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses=`` entries for these statuses, all with the one error model."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        entry: dict[str, Any] = {"model": ErrorResponse, "description": _MEANING.get(status, "error")}
        if status in (429, 503):
            entry["headers"] = {"Retry-After": {"description": "seconds until a retry may succeed",
                                                "schema": {"type": "integer"}}}
        out[status] = entry
    return out


# What any authenticated route may answer besides its own codes (auth, body limit, validation, rate, 503).
COMMON_ERRORS = (401, 413, 422, 429, 503)
# Routes that run a turn, read records, templates or documents.
ALL_ERRORS = (400, 401, 403, 404, 409, 413, 422, 429, 503)


def error_response(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"error": {"code": code, "message": message, **extra}}
    return JSONResponse(body, status_code=status)


def install_error_handlers(app: FastAPI) -> None:
    app.add_middleware(RequestIds)  # request ids on every log line; every 5xx logged

    @app.exception_handler(PoolTimeout)
    async def _pool(request: Request, exc: PoolTimeout) -> JSONResponse:
        # Every database connection is busy: a clear "try again shortly", never a 500.
        log_event("db_pool_exhausted", level="error", request_id=request_id_of(request.scope), detail=str(exc)[:200])
        response = error_response(503, "database_busy", "all database connections are busy; retry shortly")
        response.headers["Retry-After"] = "2"
        return response

    @app.exception_handler(OperationalError)
    async def _database(request: Request, exc: OperationalError) -> JSONResponse:
        # A locked SQLite file (busy_timeout spent under many writers), a lost or refused connection: the
        # database, a dependency, is unavailable for now; the request may be retried.
        log_event("db_unavailable", level="error", request_id=request_id_of(request.scope),
                  detail=str(exc.orig or exc)[:200])
        response = error_response(503, "database_busy", "the database is busy or unavailable; retry shortly")
        response.headers["Retry-After"] = "2"
        return response

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Runs outside the request-id middleware (Starlette's outermost layer), so it logs the 5xx itself.
        log_event("http_5xx", level="error", status=500, request_id=request_id_of(request.scope),
                  path=request.url.path, error=type(exc).__name__, detail=str(exc)[:300])
        rid = request_id_of(request.scope)
        return error_response(500, "internal_error", f"internal error (request id {rid})", request_id=rid)

    @app.exception_handler(CopilotError)
    async def _copilot(_: Request, exc: CopilotError) -> JSONResponse:
        status = exc.status_code if exc.status_code < 500 else 503
        response = error_response(status, exc.code, exc.message)
        if isinstance(exc, (RateLimited, Busy)):
            response.headers["Retry-After"] = str(exc.retry_after)
        elif status == 401:
            response.headers["WWW-Authenticate"] = "Bearer"
        return response

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", ""))} for e in exc.errors()
        ]
        first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
        message = f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
        return error_response(422, "invalid_request", message, details=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {
            401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
            413: "payload_too_large",
        }.get(
            exc.status_code, "http_error"
        )
        response = error_response(exc.status_code, code, str(exc.detail))
        if exc.headers:
            response.headers.update(exc.headers)
        return response
