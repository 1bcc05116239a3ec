"""Every request gets an id (the client's ``X-Request-ID`` when it sent a sane one): bound to every log
event of the request, echoed in the response header, and a 5xx the app answers is one JSON log line."""

from __future__ import annotations

import re
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from copilot.core.logging import bound, log_event

_SANE = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
SCOPE_KEY = "copilot.request_id"


def request_id_of(scope: Scope) -> str | None:
    value = scope.get(SCOPE_KEY)
    return value if isinstance(value, str) else None


class RequestIds:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        rid = sent if _SANE.match(sent) else uuid.uuid4().hex[:16]
        scope[SCOPE_KEY] = rid

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers: list[Any] = list(message.get("headers") or [])
                headers.append((b"x-request-id", rid.encode()))
                message = {**message, "headers": headers}
                status = int(message.get("status", 200))
                if status >= 500:
                    log_event(
                        "http_5xx", level="error", status=status, method=scope.get("method"), path=scope.get("path")
                    )
            await send(message)

        with bound(request_id=rid):
            await self.app(scope, receive, send_with_id)
