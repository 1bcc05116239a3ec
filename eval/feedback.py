"""Thumbs-down turns as draft evaluation cases (``crm-copilot eval from-feedback``).

Each ``down`` rating (copilot/store feedback) is joined with the turn as the conversation store kept it
(the message after the trust layer, the page, the inputs, the earlier turns of that conversation, the
answer and its citations) and with the turn's audit row (template, documents and records shown). The
draft carries what the user said and got in ``review``, and only the assertions nobody has to guess: the
skill that answered must answer again, and nothing may leak. A reviewer writes the facts the answer should
have had, moves the file into eval/datasets/ and deletes the ``review`` block. The drafts are a dataset
of the case schema (``suite: review``, advisory), validated before they are written.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from copilot.crm.models import User
from copilot.store.models import AuditEvent, ConversationTurn, Feedback
from eval.cases import SCHEMA, dump_dataset

HEADER = """# Draft cases from thumbs-down feedback (crm-copilot eval from-feedback), NOT REVIEWED.
# For each: read review.comment and review.answer, write the facts the answer should have carried
# (facts.must_include / must_not_include, citations, ...), then move the case into a dataset under
# eval/datasets/ and delete its review block. Drafts run in no suite until then.
"""


def _page(turn: ConversationTurn) -> str | None:
    return f"{turn.object_type}:{turn.object_id}" if turn.object_type and turn.object_id else None


def draft_case(session: Session, fb: Feedback) -> dict[str, Any] | None:
    turn = session.scalars(select(ConversationTurn).where(ConversationTurn.trace_id == fb.trace_id)).first()
    if turn is None:
        return None
    user = session.get(User, fb.user_id)
    audit = session.scalars(select(AuditEvent).where(AuditEvent.trace_id == fb.trace_id)).first()
    earlier = session.scalars(
        select(ConversationTurn)
        .where(ConversationTurn.conversation_id == turn.conversation_id, ConversationTurn.seq < turn.seq)
        .order_by(ConversationTurn.seq)
    ).all()
    vars_: dict[str, Any] = {"persona": user.username if user else None, "message": turn.message}
    if _page(turn):
        vars_["page"] = _page(turn)
    if turn.input:
        vars_["inputs"] = dict(turn.input)
    if earlier:
        vars_["conversation"] = [
            {
                k: v
                for k, v in {"message": t.message, "page": _page(t), "inputs": dict(t.input or {}) or None}.items()
                if v
            }
            for t in earlier
        ]
    retrieved = [str(c.get("id")) for c in turn.citations or [] if isinstance(c, dict)]
    if audit is not None:
        retrieved += [f"doc:{d}" for d in audit.document_ids or [] if f"doc:{d}" not in retrieved]
    asserts: list[dict[str, Any]] = [{"type": "no_leak"}]
    if turn.skill:
        asserts.insert(0, {"type": "skill", "value": turn.skill})
    return {
        "id": f"fb-{fb.trace_id}",
        "description": f"DRAFT from a thumbs-down: {fb.comment or '(no comment)'}",
        "review": {
            "trace_id": fb.trace_id,
            "rating": fb.rating,
            "comment": fb.comment,
            "answer": turn.answer,
            "skill": turn.skill,
            "template": audit.template if audit else None,
            "retrieved": retrieved,
            "rated_at": (fb.updated_at or fb.created_at).isoformat(timespec="seconds") if fb.created_at else None,
        },
        "vars": vars_,
        "assert": asserts,
        "tags": ["feedback", "draft"],
    }


def draft_cases(session: Session, *, since: str | None = None, limit: int = 200) -> tuple[str, int]:
    """The drafts as the text of a dataset file, and how many there are."""
    query = select(Feedback).where(Feedback.rating == "down").order_by(Feedback.created_at.desc(), Feedback.id.desc())
    if since:
        try:
            day = dt.datetime.fromisoformat(since)
        except ValueError:
            from copilot.core.errors import BadRequest

            raise BadRequest(f"--since {since!r}: expected a date, YYYY-MM-DD") from None
        query = query.where(Feedback.created_at >= day)
    cases = [c for fb in session.scalars(query.limit(limit)) if (c := draft_case(session, fb)) is not None]
    data = {"schema": SCHEMA, "suite": "review", "advisory": True, "cases": cases}
    return HEADER + dump_dataset(data), len(cases)
