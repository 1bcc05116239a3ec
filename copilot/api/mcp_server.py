"""The Model Context Protocol server at ``/mcp`` (streamable HTTP, official ``mcp`` SDK).

Every skill is a tool. A tool call runs ``Assistant.turn`` under the bearer token of the HTTP request
that carries it, so an MCP client sees exactly what its user would see in the CRM: a record the caller
may not read is an error result, never data.

The token is checked twice on purpose: at the HTTP door (no or bad token: a plain 401 before any MCP
machinery runs) and again inside each tool call, where the principal is built from that very request.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio
import mcp_types as types
from fastapi import FastAPI
from mcp.server.lowlevel import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.shared.exceptions import MCPError
from pydantic import ValidationError
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from copilot import __version__
from copilot.core.bounds import MAX_ID, check_integers
from copilot.core.errors import CopilotError, Unauthorized, Unprocessable
from copilot.crm.principal import Principal
from skills.base import PageContext, SkillRequest, SkillResult, SkillSpec

if TYPE_CHECKING:
    from copilot.api.limits import TokenRateLimit
    from copilot.service.runtime import Runtime

log = logging.getLogger(__name__)

MCP_PATH = "/mcp"
# Fields every tool takes besides its skill's own input (they become SkillRequest fields, not input).
COMMON_FIELDS = ("message", "object_type", "object_id", "locale", "conversation_id")


def tool_input_schema(spec: SkillSpec) -> dict[str, Any]:
    """The skill's own input fields plus the message and the page's record, as one closed object."""
    own = dict(spec.input_schema.get("properties", {}))
    object_type: dict[str, Any] = {"type": "string", "description": "the CRM object type of the page's record"}
    if spec.object_types:
        object_type["enum"] = list(spec.object_types)
    properties = {
        **own,
        "message": {"type": "string", "maxLength": 4000, "description": "what the user asks, Chinese or English"},
        "object_type": object_type,
        "object_id": {"type": "integer", "minimum": 1, "maximum": MAX_ID, "description": "the id of the page's record"},
        "locale": {"type": "string", "enum": ["zh", "en"]},
        "conversation_id": {
            "type": "string",
            "minLength": 1,
            "maxLength": 64,
            "description": "continue a conversation of yours: the conversation_id of an earlier answer",
        },
    }
    return {
        "type": "object",
        "properties": properties,
        "required": list(spec.input_schema.get("required", [])),
        "additionalProperties": False,
    }


def tool_for(spec: SkillSpec) -> types.Tool:
    roles = f" (roles: {', '.join(spec.required_roles)})" if spec.required_roles else ""
    return types.Tool(
        name=spec.name,
        title=spec.title.get("en") or spec.name,
        description=(spec.description.get("en") or "") + roles,
        input_schema=tool_input_schema(spec),
    )


def result_text(result: SkillResult) -> str:
    lines = [result.answer]
    if result.citations:
        lines += ["", "Sources:"] + [f"[{i}] {c.title} ({c.type}:{c.id})" for i, c in enumerate(result.citations, 1)]
    return "\n".join(lines)


def error_result(status: int, code: str, message: str) -> types.CallToolResult:
    payload = {"error": {"status": status, "code": code, "message": message}}
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=json.dumps(payload, ensure_ascii=False))], is_error=True
    )


def _bearer(headers: Any) -> str | None:
    raw = headers.get("authorization") if headers is not None else None
    if not raw:
        return None
    scheme, _, token = raw.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


class CopilotMCP:
    """The MCP server over one Runtime, plus the ASGI endpoint and lifespan FastAPI needs."""

    def __init__(self, runtime: Runtime, rate_limit: TokenRateLimit | None = None) -> None:
        self.runtime = runtime
        self.rate_limit = rate_limit
        self.server: Server[Any] = Server(
            "crm-copilot",
            version=__version__,
            title="CRM Copilot",
            instructions="CRM copilot skills; every call runs with the permissions of the bearer token's user.",
            on_list_tools=self._list_tools,
            on_call_tool=self._call_tool,
        )
        self._manager: StreamableHTTPSessionManager | None = None

    # --- MCP handlers -------------------------------------------------------------------------------

    async def _list_tools(self, ctx: Any, params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        # The tools the caller may run, by the same policy function as GET /v1/skills (may_use_skill).
        token = _bearer(getattr(ctx.request, "headers", None))
        specs = [] if token is None else await anyio.to_thread.run_sync(self._skills_for, token)
        return types.ListToolsResult(tools=[tool_for(s) for s in specs])

    def _skills_for(self, token: str) -> list[SkillSpec]:
        from copilot.store.tokens import authenticate

        with self.runtime.sessions() as session:
            try:
                principal: Principal = authenticate(session, token)
            except CopilotError:
                return []
        return self.runtime.assistant.skills_for(principal)

    async def _call_tool(self, ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        token = _bearer(getattr(ctx.request, "headers", None))
        if token is None:
            return error_result(401, "unauthorized", "a bearer token is required (crm-copilot token USERNAME)")
        try:
            # The turn is synchronous database and model work: keep it off the event loop.
            result = await anyio.to_thread.run_sync(self._run_turn, token, params.name, dict(params.arguments or {}))
        except _BadArguments as exc:
            # The call itself is malformed (unknown tool, arguments outside the tool's schema): a JSON-RPC
            # "invalid params" error, as the MCP specification asks, with a message that names the field.
            raise MCPError(types.INVALID_PARAMS, exc.message) from None
        except CopilotError as exc:
            # The call was well formed and the tool refused it (403/404/413…): a tool result marked as error.
            return error_result(exc.status_code, exc.code, exc.message)
        except Exception:
            # Our bug, not the caller's: logged with a reference, never the raw exception text on the wire.
            ref = uuid.uuid4().hex[:12]
            log.exception("MCP tool %s failed (ref %s)", params.name, ref)
            raise MCPError(types.INTERNAL_ERROR, f"internal error in tool {params.name!r} (ref {ref})") from None
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=result_text(result))],
            structured_content=result.model_dump(mode="json", exclude_none=True),
        )

    def _run_turn(self, token: str, name: str, arguments: dict[str, Any]) -> SkillResult:
        from copilot.store.tokens import authenticate

        assistant = self.runtime.assistant
        request, conversation_id = _tool_request(assistant, name, arguments)
        with self.runtime.sessions() as session:
            principal: Principal = authenticate(session, token)
            result = assistant.turn(session, principal, request, skill=name, conversation_id=conversation_id)
            session.commit()
        return result

    # --- HTTP ---------------------------------------------------------------------------------------

    @asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        # A manager runs once; a fresh one per lifespan lets the same app start again (tests, reloads).
        # Stateless: every POST stands alone, so replicas need no session affinity, and the caller's token
        # is read from the very request that carries each call. No DNS-rebinding host check: every request
        # needs a bearer token, which a rebinding page does not have.
        manager = StreamableHTTPSessionManager(app=self.server, stateless=True, json_response=True)
        async with manager.run():
            self._manager = manager
            try:
                yield
            finally:
                self._manager = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        response = await self._refuse(_bearer(headers))
        if response is not None:
            await response(scope, receive, send)
            return
        if self._manager is None:
            response = _json_error(503, "unavailable", "the MCP endpoint is not started (application lifespan not run)")
            await response(scope, receive, send)
            return
        await self._manager.handle_request(scope, receive, send)

    async def _refuse(self, token: str | None) -> JSONResponse | None:
        if token is None:
            return _json_error(401, "unauthorized", "a bearer token is required (crm-copilot token USERNAME)")
        try:
            await anyio.to_thread.run_sync(self._authenticate, token)
            if self.rate_limit is not None:
                from copilot.store.tokens import hash_token

                self.rate_limit.hit(hash_token(token))
        except Unauthorized as exc:
            return _json_error(401, exc.code, exc.message)
        except CopilotError as exc:
            response = _json_error(exc.status_code if exc.status_code < 500 else 503, exc.code, exc.message)
            if getattr(exc, "retry_after", None):
                response.headers["Retry-After"] = str(exc.retry_after)  # type: ignore[attr-defined]
            return response
        return None

    def _authenticate(self, token: str) -> Principal:
        from copilot.store.tokens import authenticate

        with self.runtime.sessions() as session:
            return authenticate(session, token)


class _BadArguments(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _tool_request(assistant: Any, name: str, arguments: dict[str, Any]) -> tuple[SkillRequest, str | None]:
    """The SkillRequest (and conversation id) a tool call stands for; _BadArguments when the call does not
    fit the tool."""
    try:
        assistant.spec(name)  # unknown tool: the same message as the HTTP API's `unknown_skill`
    except CopilotError as exc:
        raise _BadArguments(exc.message) from None
    common = {k: arguments.pop(k) for k in COMMON_FIELDS if k in arguments}
    try:
        check_integers(arguments, "arguments")
        context = None
        if common.get("object_type") is not None or common.get("object_id") is not None:
            context = PageContext(object_type=common.get("object_type", ""), object_id=common.get("object_id", 0))
        for field in ("message", "conversation_id"):
            if common.get(field) is not None and not isinstance(common[field], str):
                raise _BadArguments(f"{field}: must be a string")
        request = SkillRequest(
            message=common.get("message") or "", input=arguments, context=context, locale=common.get("locale")
        )
        return request, common.get("conversation_id")
    except Unprocessable as exc:
        raise _BadArguments(exc.message) from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "arguments"
        raise _BadArguments(f"{where}: {first.get('msg')}") from None


def _json_error(status: int, code: str, message: str) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


def mount_mcp(app: FastAPI) -> CopilotMCP:
    """Serve MCP at /mcp and run its session manager inside the app's own lifespan."""
    mcp = CopilotMCP(app.state.runtime, getattr(app.state, "rate_limit", None))
    # A plain ASGI endpoint (Starlette passes scope/receive/send straight through): the SDK's transport
    # writes its own responses, and a Route at the exact path avoids Mount's /mcp → /mcp/ redirect.
    app.add_route(MCP_PATH, mcp, methods=["GET", "POST", "DELETE"], include_in_schema=False)  # type: ignore[arg-type]
    outer = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: Any) -> AsyncIterator[Any]:
        async with mcp.lifespan(), outer(a) as state:
            yield state

    app.router.lifespan_context = lifespan
    app.state.mcp = mcp
    return mcp
