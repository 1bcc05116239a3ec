"""Which function answers which skill: plain imports, so the import graph (and the layers contract in
``make lint``) sees every skill module, and no handler is looked up from a string at run time.

A new skill adds its ``skills/defs/<name>.yaml`` and one line here; ``handler_for`` checks the two agree.
"""

from __future__ import annotations

from copilot.core.errors import ConfigError
from skills import (
    marketing_copy,
    next_best_action,
    record_lookup,
    record_qa,
    reply_suggestion,
    ticket_lookup,
    troubleshoot,
)
from skills.base import Handler, SkillSpec

HANDLERS: dict[str, Handler] = {
    "marketing_copy": marketing_copy.run,
    "next_best_action": next_best_action.run,
    "record_lookup": record_lookup.run,
    "record_qa": record_qa.run,
    "reply_suggestion": reply_suggestion.run,
    "ticket_lookup": ticket_lookup.run,
    "troubleshoot": troubleshoot.run,
}


def handler_for(spec: SkillSpec) -> Handler:
    """The registered function for ``spec``; a definition without one (or naming another) is a deployment
    error, reported with both names rather than as an AttributeError mid-turn."""
    fn = HANDLERS.get(spec.name)
    declared = f"{fn.__module__}:{fn.__name__}" if fn is not None else None
    if fn is None or declared != spec.handler:
        raise ConfigError(
            f"skill {spec.name!r} declares handler {spec.handler!r} but skills/handlers.py registers {declared!r}"
        )
    return fn
