"""OpenAI-compatible ``GET /v1/models`` and ``POST /v1/chat/completions``.

Any OpenAI client (``base_url=http://HOST:PORT/v1``, a copilot token as its API key) can talk to the
copilot. The last user message is the copilot message; the page context, skill and locale travel as
extra body fields (``extra_body`` in the official client). The answer is the message content, with the
citations written out at its end; the structured result rides along under ``copilot``.

Errors here use OpenAI's shape, ``{"error": {"message", "type", "code", "param"}}``, which still has the
``code`` and ``message`` of ours, so a client written for either can read it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field
from sse_starlette.sse import EventSourceResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from copilot.api.deps import PrincipalDep, RuntimeDep, SessionDep
from copilot.api.live_turn import Delta, Finished, LiveTurn, error_body, text_events
from copilot.api.schemas import SkillInput
from copilot.core.errors import CopilotError, NotFound, Unprocessable
from copilot.core.locale import detect_locale
from copilot.service.conversation import Replayed
from skills.base import PageContext, SkillRequest, SkillResult

MODEL_ID = "crm-copilot"
# Fixed, so /v1/models is the same answer on every call and every replica.
MODEL_CREATED = 1_767_225_600  # 2026-01-01T00:00:00Z

_ERROR_TYPES = {
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


def openai_error(
    status: int, code: str, message: str, param: str | None = None, *, retry_after: int | None = None
) -> JSONResponse:
    kind = _ERROR_TYPES.get(status, "invalid_request_error")
    error = {"message": message, "type": kind, "code": code, "param": param}
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    return JSONResponse({"error": error}, status_code=status, headers=headers or None)


class OpenAIErrorRoute(APIRoute):
    """Turns every 4xx of these routes (auth, validation, copilot errors) into OpenAI's error shape.

    A route class rather than an app-wide handler, so the rest of the API keeps its own shape.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def wrapped(request: Request) -> Response:
            try:
                return await handler(request)
            except CopilotError as exc:
                status = exc.status_code if exc.status_code < 500 else 503
                return openai_error(status, exc.code, exc.message, retry_after=getattr(exc, "retry_after", None))
            except RequestValidationError as exc:
                first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
                loc = [str(p) for p in first.get("loc", ()) if p != "body"]
                return openai_error(422, "invalid_request", f"{'.'.join(loc)}: {first.get('msg', '')}", ".".join(loc))
            except StarletteHTTPException as exc:
                return openai_error(exc.status_code, "http_error", str(exc.detail))

        return wrapped


router = APIRouter(prefix="/v1", tags=["openai-compatible"], route_class=OpenAIErrorRoute)


class TextPart(BaseModel):
    type: Literal["text"]
    text: str


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")  # name, tool_calls, refusal...: other clients' bookkeeping
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(p.text for p in self.content)
        return self.content or ""


class ChatCompletionRequest(BaseModel):
    """Closed like our other bodies, but the sampling knobs OpenAI clients send by habit are accepted
    (and have no effect: the copilot's templates fix them)."""

    model_config = ConfigDict(extra="forbid")
    model: str = Field(description=f"always {MODEL_ID!r}")
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    # Copilot extras (``extra_body`` in the official client).
    context: PageContext | None = None
    skill: str | None = Field(default=None, max_length=60)
    locale: Literal["zh", "en"] | None = None
    input: SkillInput = Field(default_factory=dict)
    # Continue a stored conversation of the caller's; without it the ``messages`` history is the conversation.
    conversation_id: str | None = Field(default=None, min_length=1, max_length=64)
    # Accepted for compatibility, ignored.
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    n: Literal[1] | None = None
    stop: str | list[str] | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    seed: int | None = None
    user: str | None = None
    stream_options: dict[str, Any] | None = None
    metadata: dict[str, str] | None = None


@router.get("/models")
def list_models(principal: PrincipalDep) -> dict[str, Any]:
    return {"object": "list", "data": [_model_card()]}


@router.get("/models/{model_id}")
def get_model(model_id: str, principal: PrincipalDep) -> dict[str, Any]:
    _check_model(model_id)
    return _model_card()


@router.post("/chat/completions")
def chat_completions(
    body: ChatCompletionRequest, principal: PrincipalDep, session: SessionDep, runtime: RuntimeDep
) -> Any:
    _check_model(body.model)
    message = _last_user_message(body.messages)
    request = SkillRequest(message=message, input=body.input, context=body.context, locale=body.locale)
    # Every earlier user and assistant message reaches the skill as the conversation so far.
    replayed = _earlier_turns(body.messages)
    cid = body.conversation_id
    locale = body.locale or detect_locale(message)
    if body.stream:
        # The same live turn as /v1/assist: model tokens as they arrive for skills that declare
        # stream_tokens; a refusal before the model call is raised here and answered as OpenAI's 4xx.
        session.close()  # the turn runs on its own session in a worker thread
        turn = LiveTurn(runtime, principal, request, body.skill, conversation_id=cid, replayed=replayed)
        started = turn.open()
        return EventSourceResponse(_chunks(f"chatcmpl-{started.trace_id}", turn, locale), ping=15)
    result = runtime.assistant.turn(
        session, principal, request, skill=body.skill, conversation_id=cid, replayed=replayed
    )
    session.commit()
    return {
        "id": f"chatcmpl-{result.trace_id}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": MODEL_ID,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer_with_citations(result, locale)},
                "finish_reason": "stop",
            }
        ],
        "copilot": result.model_dump(mode="json", exclude_none=True),
    }


def answer_with_citations(result: SkillResult, locale: str) -> str:
    """The answer, then its sources as a numbered list a person can read in any chat window."""
    if not result.citations:
        return result.answer
    heading = "参考来源" if locale == "zh" else "Sources"
    lines = [f"[{i}] {c.title} ({c.type}:{c.id})" for i, c in enumerate(result.citations, 1)]
    return f"{result.answer}\n\n{heading}:\n" + "\n".join(lines)


def _chunks(completion_id: str, turn: LiveTurn, locale: str) -> Iterator[dict[str, str]]:
    created = int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, str]:
        body = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": MODEL_ID,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            **extra,
        }
        return {"data": json.dumps(body, ensure_ascii=False)}

    yield chunk({"role": "assistant", "content": ""})
    # After a live answer the rest is the citations list; when nothing streamed (offline, or a skill whose
    # text is rewritten after the model wrote it) it is all of the content.
    for event in text_events(turn, lambda result: answer_with_citations(result, locale)):
        if isinstance(event, Delta):
            yield chunk({"content": event.text})
        elif isinstance(event, Finished):
            # The structured result comes once, on the closing chunk, where a client that wants it can look.
            yield chunk({}, "stop", copilot=event.result.model_dump(mode="json", exclude_none=True))
        else:
            # OpenAI's in-stream error shape: the official clients raise it as an APIError.
            err = error_body(event.error)
            error = {"message": err["message"], "type": "server_error", "code": err["code"], "param": None}
            yield {"data": json.dumps({"error": error}, ensure_ascii=False)}
    yield {"data": "[DONE]"}


def _model_card() -> dict[str, Any]:
    return {"id": MODEL_ID, "object": "model", "created": MODEL_CREATED, "owned_by": "crm-copilot"}


def _check_model(model: str) -> None:
    if model != MODEL_ID:
        raise NotFound(f"the model {model!r} does not exist; this service serves {MODEL_ID!r}", code="model_not_found")


def _earlier_turns(messages: list[ChatMessage]) -> list[Replayed]:
    """The user and assistant messages before the last user message, oldest first (system and tool
    messages are the client's own set-up, not the conversation)."""
    last = max((i for i, m in enumerate(messages) if m.role == "user" and m.text().strip()), default=0)
    return [Replayed(m.role, m.text()) for m in messages[:last] if m.role in ("user", "assistant") and m.text().strip()]


def _last_user_message(messages: list[ChatMessage]) -> str:
    for m in reversed(messages):
        if m.role == "user" and m.text().strip():
            return m.text()
    raise Unprocessable("messages: there is no user message with text", code="invalid_request")
