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

from eval import leak_eval, retrieval, router_eval, versions
from eval.suites import turn_suite

if TYPE_CHECKING:
    from copilot.service.runtime import Runtime

# The suites, in report order. Each turn suite runs every dataset naming it (eval/datasets, ``suite:``).
SKILL_SUITES = (
    "record_qa",
    "troubleshoot",
    "reply_suggestion",
    "marketing_copy",
    "next_best_action",
    "ticket_lookup",
    "record_lookup",
)
SUITES: dict[str, Callable[[Runtime], dict[str, Any]]] = {
    "router": router_eval.run_suite,
    "retrieval": retrieval.run_suite,
    **{name: turn_suite(name) for name in SKILL_SUITES},
    "conversation": turn_suite("conversation"),
    "instructions": turn_suite("instructions"),
    "leak": leak_eval.run_suite,
    "versions": versions.sweep_suite,
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


QUICK_SKIP = ("versions",)  # advisory and the slowest: not part of the quick gated subset


def run_suites(runtime: Runtime, names: list[str] | None = None, *, quick: int = 1) -> list[SuiteReport]:
    """``quick``: run every ``quick``-th case of each dataset (the same gates), and skip the advisory sweep."""
    from eval.cases import datasets, sampling

    if quick > 1:
        with sampling(quick):
            return run_suites(runtime, names or [n for n in SUITES if n not in QUICK_SKIP])

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
            if name.endswith(("_ms", ".cases", ".n", ".searches", ".turns", ".records", ".users")):
                continue  # timings are noisy (bench/ measures speed); counts are sizes, not scores
            worse = (new - old) if lower_is_better else (old - new)
            if worse > tolerance:
                regressions.append(f"{report.name}.{name}: {old:.4g} → {new:.4g}")
    return regressions


def _n_cases(report: SuiteReport) -> int:
    """Cases run (a set run twice, named and routed, counts twice; the leak matrix counts its turns)."""
    n = sum(v for k, v in report.metrics.items() if k.endswith((".cases", ".n")) and not k.startswith("all."))
    if "matrix.turns" in report.metrics:
        n += report.metrics["matrix.turns"] + report.metrics.get("kb.searches", 0)
    return int(n) or len(report.cases)


def to_json(reports: list[SuiteReport], regressions: list[str]) -> dict[str, Any]:
    return {
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "passed": all(r.passed for r in reports) and not regressions,
        "regressions": regressions,
        "suites": {r.name: asdict(r) | {"passed": r.passed, "n_cases": _n_cases(r)} for r in reports},
    }


def charts_of(payload: dict[str, Any]) -> dict[str, str]:
    """The report's charts as inline SVG (eval/charts.py)."""
    from markupsafe import Markup

    from eval import charts

    suites = payload.get("suites", {})
    out: dict[str, str] = {}
    by_version: dict[str, dict[str, float]] = dict(suites.get("versions", {}).get("charts", {}).get("versions", {}))
    for comparison in payload.get("comparisons", []):
        for side in ("a", "b"):
            values = [
                d[side] for d in comparison["delta"] if d["metric"].endswith(".pass_rate") and d[side] is not None
            ]
            if values:
                ref = comparison[side]
                by_version.setdefault(comparison["template"], {})[ref.split("@", 1)[1]] = sum(values) / len(values)
    if by_version:
        out["versions"] = charts.bars(by_version, "pass rate of each skill's cases, by template version")
    for key, confusion in suites.get("router", {}).get("charts", {}).items():
        if key.startswith("confusion:"):
            name = key.split(":", 1)[1]
            out[key] = charts.heatmap(confusion, f"router confusion ({name}.yaml): rows expected, columns predicted")
    samples: dict[str, list[float]] = {}
    for name, suite in suites.items():
        for case in suite.get("cases", []):
            ms = case.get("ms")
            if not isinstance(ms, int | float):
                continue
            skill = "kb_search" if name == "retrieval" else case.get("skill")
            if skill:
                samples.setdefault(str(skill), []).append(float(ms))
    if samples:
        out["latency"] = charts.latency(samples, "latency per skill (one turn, ms): box = quartiles, whisker = p90")
    return {k: Markup(v) for k, v in out.items() if v}


def write_html(payload: dict[str, Any], path: Path) -> None:
    env = Environment(loader=PackageLoader("eval", "templates"), autoescape=select_autoescape(["html", "j2"]))
    html = env.get_template("report.html.j2").render(report=payload, charts=charts_of(payload))
    path.write_text(html, encoding="utf-8")


def baseline_of(payload: dict[str, Any]) -> dict[str, Any]:
    """What a later run is compared with: every metric and gate, the templates; no case rows, no charts."""
    keep = ("name", "metrics", "gates", "failures", "passed", "seconds")
    return {
        "generated_at": payload.get("generated_at"),
        "passed": payload.get("passed"),
        "templates": payload.get("templates", {}),
        "suites": {name: {k: s[k] for k in keep if k in s} for name, s in payload.get("suites", {}).items()},
    }


def write_json(payload: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(payload, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
