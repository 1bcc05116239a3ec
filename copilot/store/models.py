"""The copilot's own tables (tokens, audit, feedback): not part of the CRM's model, but in the same
database and the same migrations, so a turn's audit row commits with the turn."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from copilot.crm.models import Base, utcnow


class ApiToken(Base):
    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    # Naive UTC, on the machine's clock (never the pinned business "today"). NULL: never expires.
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # Set by `crm-copilot token revoke`; the row stays so the audit trail keeps naming the token's user.
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class AuditEvent(Base):
    """One row per copilot turn: who asked, what was shown, which template and provider answered."""

    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    trace_id: Mapped[str] = mapped_column(String(40), unique=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    skill: Mapped[str | None] = mapped_column(String(60))
    template: Mapped[str | None] = mapped_column(String(120))
    template_hash: Mapped[str | None] = mapped_column(String(64))
    provider: Mapped[str | None] = mapped_column(String(40))
    degraded: Mapped[bool] = mapped_column(Boolean, default=False)
    record_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    document_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    timings_ms: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Feedback(Base):
    """One rating per user per turn: a second rating of the same turn changes this row (copilot/store/feedback.py)."""

    __tablename__ = "feedback"
    __table_args__ = (Index("ux_feedback_turn_user", "trace_id", "user_id", unique=True),)
    id: Mapped[int] = mapped_column(primary_key=True)
    trace_id: Mapped[str] = mapped_column(String(40), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    rating: Mapped[str] = mapped_column(String(10))
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class IdempotentWrite(Base):
    """The answer to a write sent with an ``Idempotency-Key``: a retry with the same key and body gets it
    again instead of writing twice; the same key with another body is a 409."""

    __tablename__ = "idempotent_writes"
    __table_args__ = (Index("ux_idempotent_user_key", "user_id", "key", unique=True),)
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(100))
    # sha256 of the method, path and body: what the key was first used for.
    fingerprint: Mapped[str] = mapped_column(String(64))
    status: Mapped[int] = mapped_column(Integer)
    response: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Conversation(Base):
    """A thread of copilot turns, owned by one user: only its owner lists, reads, continues or deletes it."""

    __tablename__ = "conversations"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # uuid4 hex: not guessable, not a counter
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class ConversationTurn(Base):
    """One answered turn as it was shown: what was asked (after the trust layer), where, by which skill,
    and the answer's structured parts a follow-up may refine. ``record_refs`` are the CRM records the
    answer quoted (``object_type:id``): every later turn re-checks them against current permissions."""

    __tablename__ = "conversation_turns"
    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column()
    trace_id: Mapped[str] = mapped_column(String(40))
    message: Mapped[str] = mapped_column(Text, default="")
    skill: Mapped[str | None] = mapped_column(String(60))
    object_type: Mapped[str | None] = mapped_column(String(40))
    object_id: Mapped[int | None] = mapped_column()
    input: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    answer: Mapped[str] = mapped_column(Text, default="")
    # sha256 of the answer text: how an OpenAI-style client's replayed assistant message finds its turn.
    answer_digest: Mapped[str] = mapped_column(String(64), index=True)
    actions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    citations: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    record_refs: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class ProposedAction(Base):
    """An action a copilot answer proposed (``actions[].id``), kept until its user confirms or dismisses it.

    ``operation`` is what confirming writes (log_activity | create_task | add_collaborator | post_reply; None
    for an action that writes nothing, such as picking a skill); ``object_type``/``object_id`` the record it
    writes on; ``payload`` the proposal as shown (title, draft, due date, colleague). Once confirmed,
    ``result_type``/``result_id`` name the record written: a second confirm answers with them again.
    """

    __tablename__ = "proposed_actions"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # uuid4 hex: not guessable
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    trace_id: Mapped[str] = mapped_column(String(40), index=True)
    kind: Mapped[str] = mapped_column(String(60))
    operation: Mapped[str | None] = mapped_column(String(30))
    object_type: Mapped[str | None] = mapped_column(String(40))
    object_id: Mapped[int | None] = mapped_column(Integer)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(20), default="proposed")  # proposed | confirmed | dismissed
    result_type: Mapped[str | None] = mapped_column(String(40))
    result_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
