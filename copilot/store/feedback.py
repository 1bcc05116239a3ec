"""Feedback writes: one rating per user per turn (a second rating changes it), and replayable writes.

Clients retry a POST whose answer they did not see (a timeout, a dropped connection). With an
``Idempotency-Key`` the first answer is stored with a fingerprint of the request; a retry with the same
key and the same request gets that answer again and writes nothing, the same key with a different
request is refused (409) instead of silently doing one or the other.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from copilot.core.errors import Conflict
from copilot.store.models import Feedback, IdempotentWrite


@dataclass(frozen=True)
class Rated:
    row: Feedback
    created: bool  # False: an earlier rating of this turn by this user was changed


def rate(session: Session, *, trace_id: str, user_id: int, rating: str, comment: str | None) -> Rated:
    """Insert the user's rating of the turn, or change the one they gave before (race-safe: the unique
    index on (trace_id, user_id) decides between two concurrent first ratings)."""
    existing = _rating(session, trace_id, user_id)
    if existing is None:
        row = Feedback(trace_id=trace_id, user_id=user_id, rating=rating, comment=comment)
        try:
            with session.begin_nested():
                session.add(row)
        except IntegrityError:
            existing = _rating(session, trace_id, user_id)  # the other request won: change theirs
            if existing is None:  # pragma: no cover - the index only fails on a duplicate
                raise
        else:
            return Rated(row, created=True)
    existing.rating = rating
    existing.comment = comment
    existing.updated_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    session.flush()
    return Rated(existing, created=False)


def _rating(session: Session, trace_id: str, user_id: int) -> Feedback | None:
    return session.scalar(select(Feedback).where(Feedback.trace_id == trace_id, Feedback.user_id == user_id))


def fingerprint(method: str, path: str, body: Any) -> str:
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{method} {path}\n{canonical}".encode()).hexdigest()


@dataclass(frozen=True)
class Stored:
    status: int
    body: dict[str, Any]


def replayed(session: Session, *, user_id: int, key: str, print_: str) -> Stored | None:
    """The stored answer for this key, None when the key is new; Conflict when it was used for another
    request."""
    row = session.scalar(select(IdempotentWrite).where(IdempotentWrite.user_id == user_id, IdempotentWrite.key == key))
    if row is None:
        return None
    if row.fingerprint != print_:
        raise Conflict(
            "this Idempotency-Key was already used for a different request; use a new key for a new write",
            code="idempotency_key_reused",
        )
    return Stored(row.status, dict(row.response))


def claim(session: Session, *, user_id: int, key: str, print_: str) -> Stored | None:
    """Take the key before writing, so concurrent first uses of one key are serialised by its unique index:
    None when this request holds the key (write, then ``remember``); otherwise the answer of the request
    that held it first (its transaction has committed by the time the index refuses ours)."""
    try:
        with session.begin_nested():
            session.add(IdempotentWrite(user_id=user_id, key=key, fingerprint=print_, status=0, response={}))
    except IntegrityError:
        session.rollback()
        again = replayed(session, user_id=user_id, key=key, print_=print_)
        if again is None:  # pragma: no cover - the index only fails on a duplicate
            raise
        return again
    return None


def remember(session: Session, *, user_id: int, key: str, print_: str, status: int, body: dict[str, Any]) -> Stored:
    """Store the answer under the key this request claimed, in the write's own transaction."""
    row = session.scalar(select(IdempotentWrite).where(IdempotentWrite.user_id == user_id, IdempotentWrite.key == key))
    if row is None or row.fingerprint != print_:  # pragma: no cover - claim() ran in this transaction
        raise Conflict("the Idempotency-Key was not claimed by this request", code="idempotency_key_reused")
    row.status, row.response = status, body
    session.flush()
    return Stored(status, body)
