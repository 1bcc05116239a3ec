"""next_best_action and ticket_lookup cases on the demo org, in the shape their skills' tests read.

    python -m eval.skill_cases [--json FILE]       # on a fresh demo (eval/fresh.py)

The cases are datasets of the case schema (``top_action`` and ``filters`` assertions; eval/cases.py),
run through ``Assistant.turn`` as the asker on the pinned demo day (eval/suites.py). The harness runs
them in the ``next_best_action`` and ``ticket_lookup`` suites; ``run_all`` reports ``precision_at_1`` /
``exact_match`` per set with the leak counts, for the skills' own floor tests.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eval import cases as c
from eval.judge import citations_outside, fls_leaks  # noqa: F401  (the leak checks, for the skills' tests)
from eval.suites import public, run_case

if TYPE_CHECKING:
    from copilot.service.runtime import Runtime

SETS = {"next_best_action": ("next_best_action", "next_best_action_users"), "ticket_lookup": ("ticket_lookup",)}
METRIC = {"next_best_action": "precision_at_1", "ticket_lookup": "exact_match"}
BARS = {"next_best_action_users.precision_at_1": 0.8, "ticket_lookup.exact_match": 0.9}


def load_cases(name: str) -> list[c.Case]:
    ds = c.dataset(name)
    return list(ds.cases) if ds else []


@contextmanager
def pinned_day(runtime: Runtime, today: dt.date) -> Iterator[Runtime]:
    """``runtime``, or the same deployment with its business day pinned to ``today`` (the demo's): the day
    is a setting of the service, as CRM_COPILOT_TODAY, not a parameter a skill could be handed."""
    if runtime.settings.today == today:
        yield runtime
        return
    from copilot.service.runtime import Runtime

    pinned = Runtime(runtime.settings.model_copy(update={"today": today}))
    try:
        yield pinned
    finally:
        pinned.close()


def run_all(
    runtime: Runtime, today: dt.date, skills: Iterable[str] = ("next_best_action", "ticket_lookup")
) -> dict[str, Any]:
    report: dict[str, Any] = {"today": today.isoformat()}
    with pinned_day(runtime, today) as rt:
        for skill in skills:
            for name in SETS[skill]:
                ds = c.dataset(name)
                if ds is None:
                    continue
                rows = [public(run_case(rt, ds, case)) for case in ds.cases]
                report[name] = {
                    "cases": len(rows),
                    METRIC[skill]: round(sum(1 for r in rows if r["ok"]) / len(rows), 4) if rows else 0.0,
                    "fls_leaks": sum(len(r["leaks"]) for r in rows),
                    "citations_outside": sum(1 for r in rows if r["not_retrieved"]),
                    "failures": [r for r in rows if not r["ok"] or r["leaks"]],
                }
    report["bars_met"] = all(
        report[k.split(".")[0]][k.split(".")[1]] >= bar for k, bar in BARS.items() if k.split(".")[0] in report
    ) and all(
        report[s]["fls_leaks"] == 0 and report[s]["citations_outside"] == 0
        for s in ("next_best_action", "next_best_action_users", "ticket_lookup")
        if s in report
    )
    return report


def main(argv: list[str] | None = None) -> int:
    from copilot.demo.generator import DEMO_TODAY
    from eval.fresh import fresh_demo

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the report here")
    args = parser.parse_args(argv)
    with fresh_demo() as runtime:
        report = run_all(runtime, DEMO_TODAY)
    text = json.dumps(report, ensure_ascii=False, indent=2, default=str)
    print(text)
    if args.json:
        args.json.write_text(text, encoding="utf-8")
    return 0 if report["bars_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
