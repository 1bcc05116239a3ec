"""One audit row per copilot turn: who asked, which template and provider answered, what was shown.

The row is added to the caller's session and flushed, not committed: the turn's unit of work decides,
so a turn that fails before it is answered leaves no half-written trail. Values are ids and counts only —
never prompt text or personal data.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from copilot.store.models import AuditEvent

if TYPE_CHECKING:
    from copilot.llm.gateway import LLMResult


def new_trace_id() -> str:
    return uuid.uuid4().hex


def _unique(ids: Iterable[Any]) -> list[str]:
    return list(dict.fromkeys(str(i) for i in ids))


def record_turn(
    session: Session,
    *,
    user_id: int | None,
    skill: str | None,
    result: LLMResult | None = None,
    trace_id: str | None = None,
    record_ids: Iterable[Any] = (),
    document_ids: Iterable[Any] = (),
    template: str | None = None,
    template_hash: str | None = None,
    provider: str | None = None,
    degraded: bool | None = None,
    timings_ms: Mapping[str, float] | None = None,
) -> AuditEvent:
    """Write the turn's AuditEvent. Fields not given explicitly are taken from ``result`` (an LLMResult).

    ``timings_ms`` (the skill's own stages) are merged over the gateway's. AuditEvent has no columns for
    the degraded reason, the injection flag or flagged documents, so they ride in the same JSON column
    (keys ``degraded_reason``, ``injection_detected``, ``flagged_documents``): the row then answers "why
    was this answer degraded?" without another table.
    """
    timings: dict[str, Any] = dict(result.timings_ms) if result else {}
    timings.update(timings_ms or {})
    if result is not None:
        if result.degraded_reason:
            timings["degraded_reason"] = result.degraded_reason
        if result.injection_detected:
            timings["injection_detected"] = True
        if result.flagged_documents:
            timings["flagged_documents"] = list(result.flagged_documents)
    event = AuditEvent(
        trace_id=trace_id or new_trace_id(),
        user_id=user_id,
        skill=skill,
        template=template or (result.template if result else None),
        template_hash=template_hash or (result.template_hash if result else None),
        provider=provider or (result.provider if result else None),
        degraded=bool(degraded if degraded is not None else (result.degraded if result else False)),
        record_ids=_unique(record_ids),
        document_ids=_unique(document_ids),
        timings_ms=timings,
    )
    session.add(event)
    session.flush()
    return event


def record_action(
    session: Session,
    *,
    user_id: int,
    action_id: str,
    decision: str,
    kind: str,
    turn_trace_id: str,
    record_ids: Iterable[Any] = (),
) -> AuditEvent:
    """The audit row of a person's decision on a proposed action: ``skill`` is ``action:<operation>`` for a
    confirmed write (``action:dismiss`` for a dismissal), ``record_ids`` the record written on and the one
    written; which action, of which kind, proposed by which turn, ride in the JSON column."""
    event = AuditEvent(
        trace_id=new_trace_id(),
        user_id=user_id,
        skill=f"action:{decision}",
        provider="none",
        degraded=False,
        record_ids=_unique(record_ids),
        document_ids=[],
        timings_ms={"action_id": action_id, "action_kind": kind, "turn_trace_id": turn_trace_id},
    )
    session.add(event)
    session.flush()
    return event
