"""``POST /v1/assist``, the skills list and direct invocation, and feedback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from sse_starlette.sse import EventSourceResponse

from copilot.api.deps import PrincipalDep, RuntimeDep, SessionDep
from copilot.api.live_turn import Delta, Finished, LiveTurn, error_body, text_events
from copilot.api.schemas import AssistRequest, FeedbackRequest, InvokeRequest
from copilot.core.errors import NotFound
from copilot.crm.principal import Principal
from copilot.service.runtime import Runtime
from copilot.store.feedback import Stored, claim, fingerprint, rate, remember, replayed
from copilot.store.models import AuditEvent
from skills.base import SkillRequest, SkillResult

router = APIRouter(prefix="/v1", tags=["copilot"])


@router.post("/assist", response_model=SkillResult, response_model_exclude_none=True)
def assist(body: AssistRequest, principal: PrincipalDep, session: SessionDep, runtime: RuntimeDep) -> Any:
    """One copilot turn. With ``stream: true`` the answer is Server-Sent Events: ``meta`` {skill, trace_id},
    ``delta`` {text}…, ``result`` (the whole answer object, authoritative), ``done``; or ``error`` {error:
    {code, message}} then ``done`` if the turn fails after the stream began. Deltas are provisional: with
    a model configured, skills that show the model's text as written stream its tokens as they arrive
    (a model failing part-way leaves them as they were and ``result`` says ``degraded``); other skills
    and the offline provider send the final answer in pieces. A request the turn refuses (413, 422,
    403, 404) gets its JSON error, never a stream."""
    request = SkillRequest(message=body.message, input=body.input, context=body.context, locale=body.locale)
    if body.stream:
        return _stream(runtime, session, principal, request, body.skill, body.conversation_id)
    result = runtime.assistant.turn(
        session, principal, request, skill=body.skill, conversation_id=body.conversation_id
    )
    session.commit()
    return result


def _stream(
    runtime: Runtime,
    session: Session,
    principal: Principal,
    request: SkillRequest,
    skill: str | None,
    conversation_id: str | None = None,
) -> EventSourceResponse:
    """Server-Sent Events: ``meta`` → ``delta``… → ``result`` → ``done`` (``error`` → ``done`` if the turn
    fails after the stream began). For a skill declaring ``stream_tokens`` with a model configured, the
    deltas are the model's tokens as they arrive; otherwise the finished answer cut into pieces. Deltas
    are provisional: ``result`` is the authoritative SkillResult (checked citations, final answer, and
    ``degraded`` when the model failed part-way)."""
    # The turn runs on its own session in a worker thread; this one was only needed to authenticate.
    session.close()
    turn = LiveTurn(runtime, principal, request, skill, conversation_id=conversation_id)
    started = turn.open()  # raises a refusal here, before any byte is sent: the caller gets its 4xx JSON
    return EventSourceResponse(_events(turn, started.skill, started.trace_id))


def _events(turn: LiveTurn, skill: str, trace_id: str) -> Iterator[dict[str, str]]:
    yield {"event": "meta", "data": json.dumps({"skill": skill, "trace_id": trace_id})}
    for event in text_events(turn, lambda result: result.answer):
        if isinstance(event, Delta):
            yield _delta(event.text)
        elif isinstance(event, Finished):
            yield {"event": "result", "data": event.result.model_dump_json(exclude_none=True)}
        else:
            yield {"event": "error", "data": json.dumps({"error": error_body(event.error)}, ensure_ascii=False)}
    yield {"event": "done", "data": "[DONE]"}


def _delta(text: str) -> dict[str, str]:
    return {"event": "delta", "data": json.dumps({"text": text}, ensure_ascii=False)}


@router.get("/skills")
def list_skills(principal: PrincipalDep, runtime: RuntimeDep) -> dict[str, Any]:
    return {
        "skills": [
            {
                "name": s.name,
                "title": s.title,
                "description": s.description,
                "object_types": s.object_types,
                "required_roles": s.required_roles,
                "input_schema": s.input_schema,
            }
            for s in runtime.assistant.skills_for(principal)
        ]
    }


@router.post("/skills/{name}/invoke", response_model=SkillResult, response_model_exclude_none=True)
def invoke_skill(
    name: str, body: InvokeRequest, principal: PrincipalDep, session: SessionDep, runtime: RuntimeDep
) -> Any:
    request = SkillRequest(message=body.message, input=body.input, context=body.context, locale=body.locale)
    result = runtime.assistant.turn(session, principal, request, skill=name, conversation_id=body.conversation_id)
    session.commit()
    return result


@router.post(
    "/feedback",
    status_code=201,
    responses={200: {"description": "your earlier rating of this turn, changed (or a replayed answer)"}},
)
def feedback(
    body: FeedbackRequest,
    principal: PrincipalDep,
    session: SessionDep,
    response: Response,
    idempotency_key: Annotated[
        str | None, Header(min_length=1, max_length=100, description="the same key on a retry: written once")
    ] = None,
) -> dict[str, Any]:
    # One rating per user per turn (a second one changes it); a retried write with its key is answered
    # from the first time (copilot/store/feedback.py).
    print_ = fingerprint("POST", "/v1/feedback", body.model_dump(mode="json"))
    if idempotency_key:
        stored = replayed(session, user_id=principal.user_id, key=idempotency_key, print_=print_) or claim(
            session, user_id=principal.user_id, key=idempotency_key, print_=print_
        )
        if stored is not None:
            response.status_code = stored.status
            response.headers["Idempotent-Replayed"] = "true"
            return stored.body
    # Feedback only on one's own turns: a trace id is not a capability to annotate others' answers.
    turn = session.scalar(
        select(AuditEvent).where(AuditEvent.trace_id == body.trace_id, AuditEvent.user_id == principal.user_id)
    )
    if turn is None:
        raise NotFound(f"no turn {body.trace_id!r} of yours")
    rated = rate(session, trace_id=body.trace_id, user_id=principal.user_id, rating=body.rating, comment=body.comment)
    out = {"id": rated.row.id, "trace_id": rated.row.trace_id, "rating": rated.row.rating, "changed": not rated.created}
    status = 201 if rated.created else 200
    if idempotency_key:
        status, out = _stored(remember(
            session, user_id=principal.user_id, key=idempotency_key, print_=print_, status=status, body=out
        ))
    session.commit()
    response.status_code = status
    return out


def _stored(stored: Stored) -> tuple[int, dict[str, Any]]:
    return stored.status, stored.body
