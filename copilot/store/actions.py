"""Proposed actions: stored when an answer proposes them, read back only by their own user, and claimed
once when confirmed (a second confirm, however concurrent, finds the first one's record).

Rows are added to the caller's session and flushed, not committed: the turn (or the confirm) decides.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from copilot.core.errors import NotFound
from copilot.store.models import ProposedAction, utcnow

PROPOSED, CONFIRMED, DISMISSED = "proposed", "confirmed", "dismissed"


@dataclass(frozen=True)
class NewProposal:
    kind: str
    payload: dict[str, Any]
    operation: str | None = None
    object_type: str | None = None
    object_id: int | None = None


def add(session: Session, user_id: int, trace_id: str, proposals: list[NewProposal]) -> list[str]:
    """Store the proposals of one answer; their new ids, in order."""
    ids = []
    for p in proposals:
        row = ProposedAction(
            id=uuid.uuid4().hex, user_id=user_id, trace_id=trace_id, kind=p.kind[:60], operation=p.operation,
            object_type=p.object_type, object_id=p.object_id, payload=p.payload, status=PROPOSED,
        )
        session.add(row)
        ids.append(row.id)
    if proposals:
        session.flush()
    return ids


def owned(session: Session, user_id: int, action_id: str) -> ProposedAction:
    """The caller's own action; another user's, or none, is the same NotFound (an id proves nothing)."""
    row = session.scalar(
        select(ProposedAction).where(ProposedAction.id == action_id, ProposedAction.user_id == user_id)
    )
    if row is None:
        raise NotFound(f"action {action_id} not found", code="action_not_found")
    return row


def claim(session: Session, row: ProposedAction, status: str) -> bool:
    """Move a proposed action to ``status``; False when it was already decided (by this or a concurrent
    request: the UPDATE's condition is checked by the database, under its row lock). The row is then
    re-read, so the caller sees what the winner stored."""
    result = session.execute(
        update(ProposedAction)
        .where(ProposedAction.id == row.id, ProposedAction.status == PROPOSED)
        .values(status=status, decided_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    session.refresh(row)
    return bool(result.rowcount)  # type: ignore[attr-defined]


def set_result(session: Session, row: ProposedAction, object_type: str, object_id: int) -> None:
    row.result_type, row.result_id = object_type, object_id
    session.flush()
