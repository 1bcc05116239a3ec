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
from copilot.api.routes import assist, conversations, crm_sync, health, kb, openai_compat, prompts
from copilot.service.runtime import Runtime

log = logging.getLogger(__name__)


def create_app(runtime: Runtime | None = None, *, warm_up: bool = True) -> FastAPI:
    app = FastAPI(
        title="CRM Copilot",
        version=__version__,
        description="An AI copilot inside a CRM: answers from CRM records and the knowledge base, "
        "filtered by the caller's permissions inside every query.",
    )
    app.state.runtime = runtime or Runtime()
    settings = app.state.runtime.settings
    app.state.rate_limit = TokenRateLimit.from_settings(settings)
    install_error_handlers(app)
    install_log_redaction()
    app.add_middleware(BodyLimitMiddleware, limit_for=body_limit_for(settings))
    app.include_router(health.router, responses=error_responses(413))
    # Every 4xx a route can answer is in the OpenAPI document, with the one error model.
    for router in (assist.router, conversations.router, openai_compat.router, prompts.router, kb.router,
                   crm_sync.router):
        app.include_router(router, responses=error_responses(*ALL_ERRORS))
    app.include_router(web.router)
    mount_mcp(app)
    if warm_up:
        _warm_up_on_start(app)
    return app


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
