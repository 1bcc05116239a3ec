"""``/v1/conversations``: the caller's own conversations and their turns (another user's is a 404).

Turns are shown as the caller may see them *now*: a turn that quoted a record they can no longer read
keeps their own words and loses its answer, exactly as the skills see history.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Response

from copilot.api.deps import PrincipalDep, SessionDep
from copilot.crm.repository import Records
from copilot.service.conversation import visible_refs
from copilot.store import conversations as store
from copilot.store.models import Conversation, ConversationTurn

router = APIRouter(prefix="/v1/conversations", tags=["conversations"])


@router.get("")
def list_conversations(
    principal: PrincipalDep,
    session: SessionDep,
    limit: int = Query(default=50, ge=1, le=200),
    offset: int = Query(default=0, ge=0, le=100_000),
) -> dict[str, Any]:
    rows = store.list_owned(session, principal.user_id, limit=limit, offset=offset)
    return {"conversations": [_summary(conv, n) for conv, n in rows]}


@router.get("/{conversation_id}")
def get_conversation(conversation_id: str, principal: PrincipalDep, session: SessionDep) -> dict[str, Any]:
    conversation = store.owned(session, principal.user_id, conversation_id)
    turns = store.turns(session, conversation)
    visible = visible_refs(Records(session, principal), [ref for t in turns for ref in t.record_refs])
    return {
        **_summary(conversation, len(turns)),
        "turns": [_turn(t, all(ref in visible for ref in t.record_refs)) for t in turns],
    }


@router.delete("/{conversation_id}", status_code=204)
def delete_conversation(conversation_id: str, principal: PrincipalDep, session: SessionDep) -> Response:
    store.remove(session, principal.user_id, conversation_id)
    session.commit()
    return Response(status_code=204)


def _summary(conversation: Conversation, turns: int) -> dict[str, Any]:
    return {
        "id": conversation.id,
        "title": conversation.title,
        "created_at": conversation.created_at.isoformat() + "Z",
        "updated_at": conversation.updated_at.isoformat() + "Z",
        "turns": turns,
    }


def _turn(t: ConversationTurn, readable: bool) -> dict[str, Any]:
    context = {"object_type": t.object_type, "object_id": t.object_id} if t.object_type else None
    out: dict[str, Any] = {
        "seq": t.seq,
        "trace_id": t.trace_id,
        "message": t.message,
        "skill": t.skill,
        "created_at": t.created_at.isoformat() + "Z",
    }
    if not readable:  # a record of this answer is no longer the caller's to read: only their own words remain
        return {**out, "answer": "", "withheld": True}
    return {**out, "context": context, "answer": t.answer, "citations": t.citations, "actions": t.actions}
