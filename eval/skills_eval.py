"""The writing and answering skills' suites (record_qa, troubleshoot, reply_suggestion, marketing_copy):
their datasets (``suite: <skill>``) through the turn, judged on their assertions (eval/suites.py).

``run_suite`` keeps the shape older callers read: every set's metrics, with ``<set>.fls_leaks`` (the
set's leaks) and ``<set>.banned_terms`` (cases whose copy carries an ad-law banned term) next to them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from eval.suites import turn_suite

if TYPE_CHECKING:
    from copilot.service.runtime import Runtime

SKILLS = ("record_qa", "troubleshoot", "reply_suggestion", "marketing_copy")


def run_suite(runtime: Runtime, skills: tuple[str, ...] = SKILLS, *, include_others: bool = True) -> dict[str, Any]:
    wanted = skills + (("next_best_action", "ticket_lookup") if include_others else ())
    metrics: dict[str, float] = {}
    gates: dict[str, dict[str, float]] = {}
    cases: list[dict[str, Any]] = []
    for skill in wanted:
        part = turn_suite(skill)(runtime)
        metrics |= part["metrics"]
        gates |= part["gates"]
        cases += part["cases"]
    for key in [k for k in metrics if k.endswith(".leaks")]:
        name = key[: -len(".leaks")]
        metrics[f"{name}.fls_leaks"] = metrics[key]
        metrics[f"{name}.banned_terms"] = float(
            sum(1 for r in cases if r["set"] == name and r["checks"].get("no_banned_term") == 0.0)
        )
    return {"metrics": metrics, "gates": gates, "cases": cases}
