"""``POST /v1/assist``, the skills list and direct invocation, and feedback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter
from sqlalchemy import select
from sse_starlette.sse import EventSourceResponse

from copilot.api.deps import PrincipalDep, RuntimeDep, SessionDep
from copilot.api.schemas import AssistRequest, FeedbackRequest, InvokeRequest
from copilot.crm.models import AuditEvent, Feedback
from copilot.errors import NotFound
from skills.base import SkillRequest, SkillResult

router = APIRouter(prefix="/v1", tags=["copilot"])
STREAM_PIECE = 24


@router.post("/assist", response_model=SkillResult, response_model_exclude_none=True)
def assist(body: AssistRequest, principal: PrincipalDep, session: SessionDep, runtime: RuntimeDep) -> Any:
    request = SkillRequest(message=body.message, input=body.input, context=body.context, locale=body.locale)
    result = runtime.assistant.turn(session, principal, request, skill=body.skill)
    session.commit()
    if body.stream:
        return EventSourceResponse(_events(result))
    return result


def _events(result: SkillResult) -> Iterator[dict[str, str]]:
    """meta → answer pieces → the whole result → done, so a widget can paint text as it comes."""
    yield {"event": "meta", "data": json.dumps({"skill": result.skill, "trace_id": result.trace_id})}
    text = result.answer
    for i in range(0, len(text), STREAM_PIECE):
        yield {"event": "delta", "data": json.dumps({"text": text[i : i + STREAM_PIECE]}, ensure_ascii=False)}
    yield {"event": "result", "data": result.model_dump_json(exclude_none=True)}
    yield {"event": "done", "data": "[DONE]"}


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
    result = runtime.assistant.turn(session, principal, request, skill=name)
    session.commit()
    return result


@router.post("/feedback", status_code=201)
def feedback(body: FeedbackRequest, principal: PrincipalDep, session: SessionDep) -> dict[str, Any]:
    # Feedback only on one's own turns: a trace id is not a capability to annotate others' answers.
    turn = session.scalar(
        select(AuditEvent).where(AuditEvent.trace_id == body.trace_id, AuditEvent.user_id == principal.user_id)
    )
    if turn is None:
        raise NotFound(f"no turn {body.trace_id!r} of yours")
    row = Feedback(trace_id=body.trace_id, user_id=principal.user_id, rating=body.rating, comment=body.comment)
    session.add(row)
    session.commit()
    return {"id": row.id, "trace_id": row.trace_id, "rating": row.rating}
