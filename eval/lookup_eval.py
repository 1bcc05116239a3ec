"""Lookups from the user's side: the exact set of records each request should return, through the turn.

Cases: ``eval/datasets/ticket_lookup_users.yaml`` and ``record_lookup_users.yaml`` (``record_set``
assertions, each with the hand-written SQL whose ids are the expected answer), run naming the skill and
again with the router choosing (``<set>.routed``: a case routed to another skill scores 0). The harness
runs them in the ``ticket_lookup`` and ``record_lookup`` suites; ``run_all`` is for tests reading the
old report shape.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from eval import cases as c
from eval.suites import public, run_case

SUITES = {"ticket_lookup": "ticket_lookup_users", "record_lookup": "record_lookup_users"}


def run_all(session: Session, runtime: Any, routed: bool = False) -> dict[str, Any]:
    """Every user-phrased lookup set: ``{skill: {cases, exact, failures, rows}}``. (``session`` is kept
    for callers; each case runs in its own, as a request does.)"""
    report: dict[str, Any] = {"routed": routed}
    for skill, name in SUITES.items():
        ds = c.dataset(name)
        rows = [public(run_case(runtime, ds, case, routed=routed)) for case in ds.cases] if ds else []
        n = len(rows) or 1
        report[skill] = {
            "cases": len(rows),
            "exact": round(sum(1 for r in rows if r["ok"]) / n, 4),
            "routed_elsewhere": sum(1 for r in rows if r.get("skill") not in (None, skill)),
            "failures": [r for r in rows if not r["ok"]],
            "rows": rows,
        }
    return report
