"""The FastAPI application factory."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from copilot import __version__
from copilot.api import web
from copilot.api.errors import ALL_ERRORS, error_responses, install_error_handlers
from copilot.api.limits import BodyLimitMiddleware, TokenRateLimit, body_limit_for
from copilot.api.mcp_server import mount_mcp
from copilot.api.redact import install_log_redaction
from copilot.api.routes import (
    actions,
    assist,
    auth,
    conversations,
    crm_sync,
    health,
    kb,
    openai_compat,
    prompts,
    records,
)
from copilot.service.runtime import Runtime

log = logging.getLogger(__name__)


def create_app(runtime: Runtime | None = None, *, warm_up: bool = True) -> FastAPI:
    app = FastAPI(
        title="CRM Copilot",
        version=__version__,
        description="An AI copilot inside a CRM: answers from CRM records and the knowledge base, "
        "filtered by the caller's permissions inside every query.",
        # Served from this package's own assets (copilot/api/web): the docs work offline.
        docs_url=None,
        redoc_url=None,
    )
    app.state.runtime = runtime or Runtime()
    settings = app.state.runtime.settings
    app.state.rate_limit = TokenRateLimit.from_settings(settings)
    install_error_handlers(app)
    install_log_redaction()
    app.add_middleware(BodyLimitMiddleware, limit_for=body_limit_for(settings))
    app.include_router(health.router, responses=error_responses(413))
    # Every 4xx a route can answer is in the OpenAPI document, with the one error model.
    routers = (assist.router, conversations.router, openai_compat.router, prompts.router, kb.router, auth.router,
               records.router, actions.router, crm_sync.router)
    for router in routers:
        app.include_router(router, responses=error_responses(*ALL_ERRORS))
    app.include_router(web.router)
    mount_mcp(app)
    _allow_origins(app, settings.cors_origin_list)
    if settings.demo_password and not settings.resolved_database_url.startswith("sqlite"):
        # Every active user signs in with the one demo password: fine for the demo, never for real users.
        log.warning("password sign-in with DEMO_PASSWORD is on for a %s database; set CRM_COPILOT_DEMO_PASSWORD= "
                    "to turn it off", settings.resolved_database_url.split(":", 1)[0])
    if warm_up:
        _warm_up_on_start(app)
    return app


def _allow_origins(app: FastAPI, origins: list[str]) -> None:
    """CORS for host CRM pages (setting ``CORS_ORIGINS``): added last, so it is the outermost layer and even
    a 401, 413 or 429 reaches the host page's script readable. Bearer tokens, never cookies: no credentials."""
    if not origins:
        return
    from starlette.middleware.cors import CORSMiddleware

    app.add_middleware(
        CORSMiddleware,
        allow_origins=origins,
        allow_methods=["GET", "POST", "PUT", "DELETE", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type", "X-Request-ID", "Idempotency-Key", "Accept"],
        expose_headers=["X-Request-ID", "Retry-After", "Idempotent-Replayed"],
        max_age=600,
    )


def _warm_up_on_start(app: FastAPI) -> None:
    """Load the embedding model, the KB index and the router's exemplars in the background at start-up,
    so the first user does not wait for them (seconds on a small machine)."""
    outer = app.router.lifespan_context
    runtime: Runtime = app.state.runtime

    def warm() -> None:
        try:
            runtime.warm_up()
        except Exception:  # a broken index must not stop the service; the first request reports it
            log.exception("warm-up failed")

    @asynccontextmanager
    async def lifespan(a: Any) -> AsyncIterator[Any]:
        threading.Thread(target=warm, name="warm-up", daemon=True).start()
        async with outer(a) as state:
            yield state

    app.router.lifespan_context = lifespan
