"""Cost bounds at the HTTP door: request-body size (413) and per-token request rate (429 + Retry-After).

The body limit is a plain ASGI middleware that counts the bytes as they arrive, so a chunked body (no
Content-Length) or a lying Content-Length is stopped at the limit, before any handler, the form parser
or the MCP transport has buffered it.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from copilot.core.errors import RateLimited
from copilot.core.settings import Settings

# Uploads carry a whole document (JSON-escaped or multipart): their own, larger, limit.
UPLOAD_PATHS = ("/v1/kb/documents",)
# A multipart envelope around a document: boundaries, part headers.
MULTIPART_SLACK = 64 * 1024


def body_limit_for(settings: Settings) -> Callable[[str], int]:
    upload = 2 * settings.max_document_bytes + MULTIPART_SLACK  # JSON escaping may double a text's size

    def limit(path: str) -> int:
        return upload if path.startswith(UPLOAD_PATHS) else settings.max_body_bytes

    return limit


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, limit_for: Callable[[str], int]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope.get("path", ""))
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                if int(declared) > limit:
                    await _too_large(send, limit)
                    return
            except ValueError:
                pass  # the server rejects a malformed Content-Length itself
        elif b"chunked" not in headers.get(b"transfer-encoding", b"").lower():
            await self.app(scope, receive, send)  # no body at all
            return
        # Read the body here, counting, and hand the app a replay of it: the handler never sees a byte
        # past the limit, however the client framed the body.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([], message, receive), send)  # a disconnect: let the app see it
                return
            body = message.get("body", b"")
            size += len(body)
            if size > limit:
                await _too_large(send, limit)
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(chunks, None, receive), send)


def _replay(chunks: list[bytes], last: Message | None, receive: Receive) -> Receive:
    pending: list[Message] = [{"type": "http.request", "body": b"".join(chunks), "more_body": False}]
    if last is not None:
        pending = [last]

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()  # after the body: disconnect notices, for streaming responses

    return replay


async def _too_large(send: Send, limit: int) -> None:
    body = json.dumps(
        {"error": {"code": "payload_too_large", "message": f"request body is over the {limit:,}-byte limit"}}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                        (b"connection", b"close")],
        }
    )
    await send({"type": "http.response.body", "body": body})


class TokenRateLimit:
    """A moving window per token (the key is the token's hash: raw tokens are kept nowhere)."""

    def __init__(self, spec: str) -> None:
        self.item: RateLimitItem | None = parse(spec) if spec.strip() else None
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    @classmethod
    def from_settings(cls, settings: Settings) -> TokenRateLimit:
        return cls(settings.rate_limit or "")

    def hit(self, key: str) -> None:
        """Count one request for ``key``; RateLimited (429) once its window is full."""
        if self.item is None:
            return
        if self.limiter.hit(self.item, key):
            return
        reset_at, _ = self.limiter.get_window_stats(self.item, key)
        retry_after = math.ceil(reset_at - time.time())
        raise RateLimited(
            f"too many requests for this token (limit {self.item}); retry in {max(1, retry_after)} s",
            retry_after=retry_after,
        )
