"""Conversations and their turns in the copilot's own tables, always by owner.

Every read here takes the asking user's id: a conversation id alone is never enough to read, continue
or delete a thread, and another user's conversation looks exactly like a missing one (404). Rows are
added and flushed, not committed: the turn's unit of work decides, as for the audit row.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from copilot.core.errors import NotFound
from copilot.crm.models import utcnow
from copilot.store.models import Conversation, ConversationTurn

TITLE_CHARS = 60


def digest(text: str) -> str:
    return hashlib.sha256(text.strip().encode("utf-8")).hexdigest()


@dataclass
class NewTurn:
    """What the service stores for one answered turn."""

    trace_id: str
    message: str
    skill: str | None
    answer: str
    object_type: str | None = None
    object_id: int | None = None
    input: dict[str, Any] = field(default_factory=dict)
    actions: list[dict[str, Any]] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    citations: list[dict[str, Any]] = field(default_factory=list)
    record_refs: list[str] = field(default_factory=list)


def create(session: Session, user_id: int, title: str = "") -> Conversation:
    row = Conversation(id=uuid.uuid4().hex, user_id=user_id, title=title[:TITLE_CHARS])
    session.add(row)
    session.flush()
    return row


def owned(session: Session, user_id: int, conversation_id: str) -> Conversation:
    """The user's own conversation, or 404 (missing and someone else's look the same)."""
    row = session.get(Conversation, conversation_id) if conversation_id else None
    if row is None or row.user_id != user_id:
        raise NotFound(f"no conversation {conversation_id!r} of yours", code="conversation_not_found")
    return row


def list_owned(session: Session, user_id: int, *, limit: int = 50, offset: int = 0) -> list[tuple[Conversation, int]]:
    """The user's conversations, most recently active first, each with its number of turns."""
    counts = (
        select(ConversationTurn.conversation_id, func.count().label("n"))
        .group_by(ConversationTurn.conversation_id)
        .subquery()
    )
    stmt = (
        select(Conversation, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.conversation_id == Conversation.id)
        .where(Conversation.user_id == user_id)
        .order_by(Conversation.updated_at.desc(), Conversation.id)
        .limit(limit)
        .offset(offset)
    )
    return [(conv, int(n)) for conv, n in session.execute(stmt)]


def turns(session: Session, conversation: Conversation, *, last: int | None = None) -> list[ConversationTurn]:
    """The conversation's turns, oldest first; ``last``: only the most recent ones (one bounded query)."""
    stmt = select(ConversationTurn).where(ConversationTurn.conversation_id == conversation.id)
    if last is not None:
        recent = list(session.scalars(stmt.order_by(ConversationTurn.seq.desc()).limit(last)))
        return recent[::-1]
    return list(session.scalars(stmt.order_by(ConversationTurn.seq)))


def turns_with_answers(session: Session, user_id: int, digests: Sequence[str]) -> dict[str, ConversationTurn]:
    """The user's own latest turn per answer digest (an OpenAI-style client replays our answers as text)."""
    if not digests:
        return {}
    stmt = (
        select(ConversationTurn)
        .join(Conversation, Conversation.id == ConversationTurn.conversation_id)
        .where(Conversation.user_id == user_id, ConversationTurn.answer_digest.in_(list(set(digests))))
        .order_by(ConversationTurn.id)
    )
    return {t.answer_digest: t for t in session.scalars(stmt)}


def add_turn(session: Session, conversation: Conversation, turn: NewTurn) -> ConversationTurn:
    last = session.scalar(
        select(func.max(ConversationTurn.seq)).where(ConversationTurn.conversation_id == conversation.id)
    )
    row = ConversationTurn(
        conversation_id=conversation.id,
        seq=int(last or 0) + 1,
        trace_id=turn.trace_id,
        message=turn.message,
        skill=turn.skill,
        object_type=turn.object_type,
        object_id=turn.object_id,
        input=turn.input,
        answer=turn.answer,
        answer_digest=digest(turn.answer),
        actions=turn.actions,
        data=turn.data,
        citations=turn.citations,
        record_refs=turn.record_refs,
    )
    if not conversation.title:
        conversation.title = turn.message.strip()[:TITLE_CHARS]
    conversation.updated_at = utcnow()
    session.add(row)
    session.flush()
    return row


def remove(session: Session, user_id: int, conversation_id: str) -> None:
    conversation = owned(session, user_id, conversation_id)
    session.execute(delete(ConversationTurn).where(ConversationTurn.conversation_id == conversation.id))
    session.delete(conversation)
    session.flush()
