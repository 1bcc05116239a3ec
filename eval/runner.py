"""The offline evaluation harness: run suites, check their gates, compare with a baseline, report.

A suite is a function ``run_suite(runtime) -> dict`` returning ``{"metrics": {name: number},
"gates": {name: {"min"|"max": number}}, "cases": [...]}``. Suites drive the same code path as the
product (Assistant.turn, KnowledgeIndex.search as the asker); none has a side door.
Deterministic, ID-based metrics are hard gates; anything judged by a model would be advisory.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, PackageLoader, select_autoescape

from eval import leak_eval, retrieval, router_eval
from eval.suites import turn_suite

if TYPE_CHECKING:
    from copilot.service.runtime import Runtime

# The suites, in report order. Each turn suite runs every dataset naming it (eval/datasets, ``suite:``).
SKILL_SUITES = ("record_qa", "troubleshoot", "reply_suggestion", "marketing_copy", "next_best_action",
                "ticket_lookup", "record_lookup")
SUITES: dict[str, Callable[[Runtime], dict[str, Any]]] = {
    "router": router_eval.run_suite,
    "retrieval": retrieval.run_suite,
    **{name: turn_suite(name) for name in SKILL_SUITES},
    "conversation": turn_suite("conversation"),
    "instructions": turn_suite("instructions"),
    "leak": leak_eval.run_suite,
}
DEFAULT_TOLERANCE = 0.02


@dataclass
class SuiteReport:
    name: str
    metrics: dict[str, float]
    gates: dict[str, dict[str, float]]
    cases: list[dict[str, Any]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0
    charts: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not self.failures


def check_gates(metrics: dict[str, float], gates: dict[str, dict[str, float]]) -> list[str]:
    failures = []
    for name, bound in gates.items():
        value = metrics.get(name)
        if value is None:
            failures.append(f"{name}: missing")
        elif "min" in bound and value < bound["min"]:
            failures.append(f"{name} = {value:.4g} < {bound['min']}")
        elif "max" in bound and value > bound["max"]:
            failures.append(f"{name} = {value:.4g} > {bound['max']}")
    return failures


def run_suites(runtime: Runtime, names: list[str] | None = None) -> list[SuiteReport]:
    from eval.cases import datasets

    unknown = sorted({d.suite for d in datasets()} - set(SUITES))
    if unknown:
        from copilot.core.errors import BadRequest

        raise BadRequest(f"datasets name unknown suites {unknown}; known suites: {', '.join(SUITES)}")
    reports = []
    for name in names or list(SUITES):
        if name not in SUITES:
            from copilot.core.errors import BadRequest

            raise BadRequest(f"unknown suite {name!r}; known suites: {', '.join(SUITES)}")
        t0 = time.perf_counter()
        raw = SUITES[name](runtime)
        metrics = {k: float(v) for k, v in raw["metrics"].items()}
        gates = raw.get("gates", {})
        reports.append(
            SuiteReport(
                name=name,
                metrics=metrics,
                gates=gates,
                cases=raw.get("cases", []),
                failures=check_gates(metrics, gates),
                seconds=round(time.perf_counter() - t0, 2),
                charts=raw.get("charts", {}),
            )
        )
    return reports


def compare(reports: list[SuiteReport], baseline: dict[str, Any], tolerance: float = DEFAULT_TOLERANCE) -> list[str]:
    """Metrics that got worse than the baseline by more than ``tolerance`` (all metrics: higher is
    better, except names ending in ``leaks``, ``errors``, ``_hits``, ``_violations``, ``_ms`` or ``banned_terms``)."""
    regressions = []
    for report in reports:
        before = baseline.get("suites", {}).get(report.name, {}).get("metrics", {})
        for name, old in before.items():
            new = report.metrics.get(name)
            if new is None:
                regressions.append(f"{report.name}.{name}: missing (was {old})")
                continue
            lower_is_better = name.endswith(
                ("_leaks", "_violations", "_ms", "banned_terms", ".leaks", ".errors", "_hits", "_not_retrieved")
            )
            if name.endswith("_ms"):
                continue  # timings are noisy; bench/ measures speed
            worse = (new - old) if lower_is_better else (old - new)
            if worse > tolerance:
                regressions.append(f"{report.name}.{name}: {old:.4g} → {new:.4g}")
    return regressions


def to_json(reports: list[SuiteReport], regressions: list[str]) -> dict[str, Any]:
    return {
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "passed": all(r.passed for r in reports) and not regressions,
        "regressions": regressions,
        "suites": {r.name: asdict(r) | {"passed": r.passed} for r in reports},
    }


def write_html(payload: dict[str, Any], path: Path) -> None:
    env = Environment(loader=PackageLoader("eval", "templates"), autoescape=select_autoescape(["html"]))
    path.write_text(env.get_template("report.html.j2").render(report=payload), encoding="utf-8")


def write_json(payload: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(payload, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
