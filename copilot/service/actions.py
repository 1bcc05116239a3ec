"""Actions a person confirms: the only place a copilot answer leads to a CRM write.

A skill only *proposes* (``Action.confirm``, a ``ProposedWrite``); ``propose`` stores every action of an
answer under its user and gives it an id. ``confirm`` then writes — once, after the policy's write check
on the record (``permissions.require_write``), with an audit row — one of:

* ``log_activity``: a 跟进记录 (the message the rep sent, as a wecom/email/call/visit/note activity);
* ``create_task``: a ``tasks`` row with a due date;
* ``add_collaborator``: the colleague joins the record's related team (the @-collaboration) and a note
  saying why is logged on the record;
* ``post_reply``: an agent's message on the ticket's conversation.

Confirming twice writes nothing new and answers the same; another user's action is a 404 (as if it did
not exist); a dismissed action cannot be confirmed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from copilot.core.errors import BadRequest, Conflict, Forbidden, NotFound, Unprocessable
from copilot.crm.models import Activity, RecordTeamMember, Task, TicketMessage, User
from copilot.crm.permissions import may_add_collaborator, require_write
from copilot.crm.principal import Principal
from copilot.store import actions as store
from copilot.store.audit import record_action
from copilot.store.models import ProposedAction
from skills.base import SkillResult

MAX_DRAFT_CHARS = 20_000
DEFAULT_TASK_DAYS = 3
ACTIVITY_KINDS = ("wecom", "email", "call", "visit", "note")
# Records an activity (跟进记录) can be on, and the columns that tie it there.
ACTIVITY_TARGETS = ("opportunity", "account", "contact")
TASK_TARGETS = ("opportunity", "account", "ticket")


@dataclass(frozen=True)
class Outcome:
    """What a confirm wrote: ``object_type``/``object_id`` of the new record. ``replayed``: it had been
    confirmed before and this answer is the first one's."""

    action: ProposedAction
    object_type: str
    object_id: int
    replayed: bool = False

    def body(self) -> dict[str, Any]:
        return {"record": {"object_type": self.object_type, "id": self.object_id}, "action": describe(self.action)}


def describe(row: ProposedAction) -> dict[str, Any]:
    return {
        "id": row.id,
        "kind": row.kind,
        "status": row.status,
        "operation": row.operation,
        "object_type": row.object_type,
        "object_id": row.object_id,
    }


def propose(session: Session, principal: Principal, result: SkillResult) -> None:
    """Store the answer's actions for its user and stamp each with its id (before the answer is shown
    or kept in the conversation, so the id a client sees is the stored one)."""
    if not result.actions:
        return
    proposals = []
    for action in result.actions:
        write = action.confirm
        proposals.append(
            store.NewProposal(
                kind=action.kind,
                payload=action.model_dump(mode="json", exclude={"id"}, exclude_none=True),
                operation=write.operation if write else None,
                object_type=write.object_type if write else None,
                object_id=write.object_id if write else None,
            )
        )
    for action, action_id in zip(result.actions, store.add(session, principal.user_id, result.trace_id, proposals),
                                 strict=True):
        action.id = action_id


def confirm(
    session: Session, principal: Principal, action_id: str, draft: str | None, now: dt.datetime
) -> Outcome:
    """Execute the caller's proposed action (``draft``: their edited text, else the proposal's); the caller
    commits. ``now``: the business clock's (a pinned demo day keeps its activities in order)."""
    row = store.owned(session, principal.user_id, action_id)
    if row.status == store.CONFIRMED and row.result_type and row.result_id is not None:
        return Outcome(row, row.result_type, row.result_id, replayed=True)
    if row.status == store.DISMISSED:
        raise Conflict("this action was dismissed; ask again for a new one", code="action_dismissed")
    if row.operation is None or row.object_type is None or row.object_id is None:
        raise Conflict("this action writes nothing to confirm (send its text as a message instead)",
                       code="action_not_confirmable")
    text = (draft if draft is not None else str(row.payload.get("draft") or "")).strip()
    if len(text) > MAX_DRAFT_CHARS:
        raise Unprocessable(f"draft: at most {MAX_DRAFT_CHARS} characters", code="invalid_request")
    # The policy's write check comes first: a record the caller may not change is refused before any claim.
    target = require_write(session, principal, row.object_type, row.object_id)
    if not store.claim(session, row, store.CONFIRMED):
        # Decided meanwhile by a concurrent request: its answer, or the dismissal.
        if row.status == store.CONFIRMED and row.result_type and row.result_id is not None:
            return Outcome(row, row.result_type, row.result_id, replayed=True)
        raise Conflict("this action was already decided", code="action_dismissed")
    object_type, object_id = _WRITERS[row.operation](session, principal, row, target, text, now)
    store.set_result(session, row, object_type, object_id)
    record_action(
        session,
        user_id=principal.user_id,
        action_id=row.id,
        decision=row.operation,
        kind=row.kind,
        turn_trace_id=row.trace_id,
        record_ids=[f"crm:{row.object_type}:{row.object_id}", f"crm:{object_type}:{object_id}"],
    )
    return Outcome(row, object_type, object_id)


def dismiss(session: Session, principal: Principal, action_id: str) -> ProposedAction:
    """Mark the caller's proposed action dismissed (again: the same answer); a confirmed one stays confirmed."""
    row = store.owned(session, principal.user_id, action_id)
    if row.status == store.DISMISSED:
        return row
    if row.status == store.CONFIRMED or not store.claim(session, row, store.DISMISSED):
        if row.status == store.DISMISSED:
            return row
        raise Conflict("this action was already confirmed", code="action_confirmed")
    record_action(
        session, user_id=principal.user_id, action_id=row.id, decision="dismiss", kind=row.kind,
        turn_trace_id=row.trace_id,
        record_ids=[f"crm:{row.object_type}:{row.object_id}"] if row.object_type else [],
    )
    return row


def post_ticket_message(
    session: Session, principal: Principal, ticket_id: int, body: str, now: dt.datetime
) -> tuple[str, int]:
    """A reply the agent typed themselves (no proposal behind it): the same write check, the same audit."""
    text = body.strip()
    if not text:
        raise Unprocessable("body: the reply needs some text", code="invalid_request")
    target = require_write(session, principal, "ticket", ticket_id)
    message = TicketMessage(ticket_id=target.id, author_kind="agent",
                            author_name=principal.display_name or principal.username, body=text, sent_at=now)
    session.add(message)
    target.updated_at = now
    session.flush()
    record_action(session, user_id=principal.user_id, action_id="", decision="post_reply", kind="typed_reply",
                  turn_trace_id="", record_ids=[f"crm:ticket:{ticket_id}", f"crm:ticket_message:{message.id}"])
    return "ticket_message", message.id


# --- the writes -------------------------------------------------------------------------------------


def _links(object_type: str, target: Any) -> dict[str, Any]:
    """The columns tying a new activity or task to the record it is on."""
    if object_type == "opportunity":
        return {"account_id": target.account_id, "opportunity_id": target.id}
    if object_type == "account":
        return {"account_id": target.id}
    if object_type == "contact":
        return {"account_id": target.account_id, "contact_id": target.id}
    if object_type == "ticket":
        return {"account_id": target.account_id, "ticket_id": target.id}
    raise BadRequest(f"nothing can be written on a {object_type}")


def _owned_by(principal: Principal, target: Any) -> dict[str, Any]:
    # The writer owns it; the record's partner company keeps seeing what is written on its record.
    return {"owner_id": principal.user_id, "department_id": principal.department_id,
            "partner_id": getattr(target, "partner_id", None)}


def _title(row: ProposedAction) -> str:
    return str(row.payload.get("title") or row.kind)[:200]


def _write_activity(
    session: Session, principal: Principal, object_type: str, target: Any, kind: str, subject: str, body: str,
    now: dt.datetime, contact_id: int | None = None,
) -> Activity:
    if object_type not in ACTIVITY_TARGETS:
        raise BadRequest(f"a follow-up is logged on an opportunity, account or contact, not a {object_type}")
    links = _links(object_type, target)
    if contact_id is not None and "contact_id" not in links:
        links["contact_id"] = contact_id
    activity = Activity(kind=kind, subject=subject[:200], body=body, occurred_at=now, **links,
                        **_owned_by(principal, target), created_at=now, updated_at=now)
    session.add(activity)
    session.flush()
    return activity


def _log_activity(
    session: Session, principal: Principal, row: ProposedAction, target: Any, text: str, now: dt.datetime
) -> tuple[str, int]:
    write = row.payload.get("confirm") or {}
    kind = str(write.get("activity_kind") or row.payload.get("channel") or "note")
    kind = kind if kind in ACTIVITY_KINDS else "note"
    if not text:
        raise Unprocessable("draft: the follow-up needs some text", code="invalid_request")
    contact = write.get("contact_id")
    activity = _write_activity(session, principal, str(row.object_type), target, kind, _title(row), text, now,
                               contact_id=int(contact) if isinstance(contact, int) else None)
    return "activity", activity.id


def _create_task(
    session: Session, principal: Principal, row: ProposedAction, target: Any, text: str, now: dt.datetime
) -> tuple[str, int]:
    if row.object_type not in TASK_TARGETS:
        raise BadRequest(f"a task is created on an opportunity, account or ticket, not a {row.object_type}")
    write = row.payload.get("confirm") or {}
    try:
        due = dt.date.fromisoformat(str(write["due_date"])) if write.get("due_date") else None
    except ValueError:
        due = None
    task = Task(subject=_title(row), description=text, due_date=due or now.date() + dt.timedelta(DEFAULT_TASK_DAYS),
                status="open", **_links(str(row.object_type), target), **_owned_by(principal, target),
                created_at=now, updated_at=now)
    session.add(task)
    session.flush()
    return "task", task.id


def _add_collaborator(
    session: Session, principal: Principal, row: ProposedAction, target: Any, text: str, now: dt.datetime
) -> tuple[str, int]:
    write = row.payload.get("confirm") or {}
    colleague = session.get(User, write.get("user_id")) if isinstance(write.get("user_id"), int) else None
    if colleague is None or not colleague.is_active:
        raise NotFound("the colleague of this action is no longer a user here", code="user_not_found")
    if not may_add_collaborator(principal, colleague.partner_id):
        raise Forbidden(f"you may not add {colleague.display_name} to this record's team")
    object_type, object_id = str(row.object_type), int(target.id)
    on_team = session.scalar(
        select(RecordTeamMember.user_id).where(
            RecordTeamMember.object_type == object_type, RecordTeamMember.record_id == object_id,
            RecordTeamMember.user_id == colleague.id,
        )
    )
    if on_team is None:
        session.add(RecordTeamMember(object_type=object_type, record_id=object_id, user_id=colleague.id))
    note = f"@{colleague.display_name} {text}".strip()
    if object_type == "ticket":
        message = TicketMessage(ticket_id=object_id, author_kind="internal",
                                author_name=principal.display_name or principal.username, body=note, sent_at=now)
        session.add(message)
        session.flush()
        return "ticket_message", message.id
    activity = _write_activity(session, principal, object_type, target, "note", _title(row), note, now)
    # The colleague reads the note that called them in, as well as the record.
    session.add(RecordTeamMember(object_type="activity", record_id=activity.id, user_id=colleague.id))
    session.flush()
    return "activity", activity.id


def _post_reply(
    session: Session, principal: Principal, row: ProposedAction, target: Any, text: str, now: dt.datetime
) -> tuple[str, int]:
    if row.object_type != "ticket":
        raise BadRequest(f"a reply is posted on a ticket, not a {row.object_type}")
    if not text:
        raise Unprocessable("draft: the reply needs some text", code="invalid_request")
    message = TicketMessage(ticket_id=target.id, author_kind="agent",
                            author_name=principal.display_name or principal.username, body=text, sent_at=now)
    session.add(message)
    target.updated_at = now
    session.flush()
    return "ticket_message", message.id


_WRITERS = {
    "log_activity": _log_activity,
    "create_task": _create_task,
    "add_collaborator": _add_collaborator,
    "post_reply": _post_reply,
}
