"""One case through the product's one door: ``Assistant.turn`` as the case's persona, exactly as a client.

The conversation so far (``vars.conversation``) is said first, each turn continuing the conversation id
the previous answer carried; then the case's own message. Nothing is called around the turn: input
checks, routing, permissions, the citation filter and the audit row are the product's own.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from copilot.core.errors import CopilotError
from copilot.crm.principal import Principal, load_principal
from skills.base import PageContext, SkillRequest, SkillResult

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from copilot.service.runtime import Runtime
    from eval.cases import Case

ERROR_CODES = {"forbidden": 403, "not_found": 404, "bad_request": 400, "unprocessable": 422}


def page(ref: str | None) -> PageContext | None:
    if not ref or ":" not in ref:
        return None
    kind, _, rid = ref.partition(":")
    return PageContext(object_type=kind, object_id=int(rid))


@dataclass
class Outcome:
    """What the user got on the case's own message (an answer or a refusal) and what came before it."""

    principal: Principal
    result: SkillResult | None = None
    error: Exception | None = None  # a refusal (CopilotError) or a crash
    previous: SkillResult | None = None
    ms: float = 0.0
    stored: dict[str, Any] = field(default_factory=dict)  # the turn as the store kept it (record, inputs)


def _option_reply(text: str, previous: SkillResult | None) -> str:
    """``{option_N_name}``: reply with the name of option N of the previous answer (its first word)."""
    if previous is None or not text.startswith("{option_"):
        return text
    n = int(text.split("_")[1])
    options = previous.data.get("needs_choice", {}).get("options", [])
    return str(options[n - 1]["label"]).split()[0] if len(options) >= n else text


def run(runtime: Runtime, session: Session, case: Case, skill: str | None, *, keep: bool = False) -> Outcome:
    """The case as its persona says it; ``skill``: named at the door for the case's own message (a
    conversation names its skills per turn). ``keep``: also read back what the store kept of the turn."""
    if not case.vars.persona:
        raise ValueError(f"case {case.id}: vars.persona is required for a turn")
    principal = load_principal(session, case.vars.persona)
    previous: SkillResult | None = None
    for t in case.vars.conversation:
        request = SkillRequest(message=_option_reply(t.message, previous), context=page(t.page), input=dict(t.inputs))
        previous = runtime.assistant.turn(
            session,
            principal,
            request,
            skill=t.skill,
            conversation_id=previous.conversation_id if previous else None,
        )
    v = case.vars
    request = SkillRequest(
        message=_option_reply(v.message, previous), context=page(v.page), input=dict(v.inputs), locale=v.locale
    )
    out = Outcome(principal=principal, previous=previous)
    t0 = time.perf_counter()
    try:
        out.result = runtime.assistant.turn(
            session, principal, request, skill=skill, conversation_id=previous.conversation_id if previous else None
        )
    except CopilotError as exc:
        out.error = exc
    except Exception as exc:
        session.rollback()
        out.error = exc
    out.ms = round((time.perf_counter() - t0) * 1000, 1)
    session.commit()  # the turns' audit rows, as the API commits them
    if keep and out.result is not None and out.result.conversation_id:
        from copilot.store import conversations as store

        conv = store.owned(session, principal.user_id, out.result.conversation_id)
        stored = store.turns(session, conv)[-1]
        out.stored = {
            "record": f"{stored.object_type}:{stored.object_id}" if stored.object_type else None,
            "inputs": dict(stored.input or {}),
        }
    return out
