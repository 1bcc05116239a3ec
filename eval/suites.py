"""The turn suites: every dataset of a suite (eval/datasets, ``suite:``), each case through the door and
judged on its assertions, summarised per set.

Metrics per set (the file's stem; ``<set>.routed`` for a set run a second time with the router choosing):
``cases``, ``pass_rate``, the mean score of each assertion type (``facts``, ``citations``, ``top_action``,
``record_set``, ``language``, ...), ``leaks`` (hidden values, unreadable records, out-of-visibility
documents: must be 0), ``errors`` (a refusal where an answer was expected or the reverse),
``forbidden_hits``, ``citations_not_retrieved``, ragas' ID/string scores where the set has facts or
citations, and the turn's latency (``p50_ms``, ``p90_ms``). Gates come from the dataset's header.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from eval import cases as c
from eval import ragas_metrics
from eval.door import run
from eval.judge import judge, outputs

if TYPE_CHECKING:
    from copilot.service.runtime import Runtime
    from skills.base import SkillResult


def _source_id(citation_id: str) -> str:
    """A citation id in the datasets' vocabulary: ``kb:<doc>#<chunk>`` → ``doc:<doc>``."""
    if citation_id.startswith("kb:"):
        return "doc:" + citation_id[3:].split("#", 1)[0]
    return citation_id


def _ragas(case: c.Case, result: SkillResult) -> ragas_metrics.Scores | None:
    cite = [i for a in case.of(c.Citations) for i in a.ids]
    expect = [s for a in case.of(c.Facts) if a.where == "outputs" for s in a.must_include]
    if not cite and not expect:
        return None
    scores = ragas_metrics.Scores()
    if cite:
        cited = list(dict.fromkeys(_source_id(x.id) for x in result.citations))
        ragas_metrics.id_context_scores(cited, cite, scores)
    if expect:
        ragas_metrics.string_scores(expect, outputs(result), scores)
    return scores


def context_of(result: SkillResult | None) -> list[str]:
    """What the turn retrieved, as the report shows it next to the answer."""
    if result is None:
        return []
    return [f"{x.id} {x.title}".strip() for x in result.citations]


def run_case(runtime: Runtime, ds: c.Dataset, case: c.Case, routed: bool = False) -> dict[str, Any]:
    skill = None if (routed or case.vars.conversation) else ds.skill
    keep = bool(case.of(c.Record) or case.of(c.InputsKept))
    with runtime.sessions() as session:
        out = run(runtime, session, case, skill, keep=keep)
        verdict = judge(session, case, out, ds.skill)
    row: dict[str, Any] = {
        "id": case.id,
        "set": ds.name + (".routed" if routed else ""),
        "line": case.line,
        "persona": case.vars.persona,
        "message": case.vars.message,
        "page": case.vars.page,
        "skill": out.result.skill if out.result else None,
        "ok": verdict.passed,
        "ms": out.ms,
        "checks": {ch.type: round(ch.score, 4) for ch in verdict.checks},
        "failed": [f"{ch.type}: {ch.detail}".strip() for ch in verdict.checks if not ch.passed],
        "leaks": verdict.leaks,
        "forbidden": verdict.forbidden,
        "error": verdict.unexpected,
        "not_retrieved": verdict.not_retrieved,
        "answer": (out.result.answer if out.result else str(out.error))[:2000],
        "context": context_of(out.result),
        "citations": [x.id for x in out.result.citations] if out.result else [],
        "provider": out.result.provider if out.result else None,
        "prompt": (out.result.prompt.id if out.result and out.result.prompt else None),
    }
    scores = _ragas(case, out.result) if out.result is not None else None
    if scores is not None:
        row["_ragas"] = scores
        row["ragas"] = ragas_metrics.as_row(scores)
    row["_checks"] = verdict.checks
    return row


def summarise(prefix: str, rows: list[dict[str, Any]]) -> dict[str, float]:
    by_type: dict[str, list[float]] = defaultdict(list)
    for r in rows:
        for ch in r["_checks"]:
            by_type[ch.type].append(ch.score)
    ms = sorted(r["ms"] for r in rows) or [0.0]
    metrics: dict[str, float] = {
        "cases": float(len(rows)),
        "pass_rate": round(sum(1 for r in rows if r["ok"]) / len(rows), 4) if rows else 0.0,
        "leaks": float(sum(len(r["leaks"]) for r in rows)),
        "errors": float(sum(1 for r in rows if r["error"])),
        "forbidden_hits": float(sum(len(r["forbidden"]) for r in rows)),
        "citations_not_retrieved": float(sum(1 for r in rows if r["not_retrieved"])),
        "p50_ms": round(ms[len(ms) // 2], 1),
        "p90_ms": round(ms[min(len(ms) - 1, int(len(ms) * 0.9))], 1),
    }
    metrics |= {t: round(statistics.fmean(v), 4) for t, v in by_type.items() if t not in ("no_leak", "refused")}
    metrics |= ragas_metrics.mean(r["_ragas"] for r in rows if "_ragas" in r)
    return {f"{prefix}.{k}": v for k, v in metrics.items()}


def public(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if not k.startswith("_")}


def run_dataset(
    runtime: Runtime, ds: c.Dataset
) -> tuple[dict[str, float], dict[str, dict[str, float]], list[dict[str, Any]]]:
    metrics: dict[str, float] = {}
    rows_out: list[dict[str, Any]] = []
    for mode in ds.runs:
        prefix = ds.name + (".routed" if mode == "routed" else "")
        rows = [run_case(runtime, ds, case, routed=mode == "routed") for case in ds.cases]
        metrics |= summarise(prefix, rows)
        rows_out += [public(r) for r in rows]
    # A gate on an assertion type the set does not use (no copy, no SMS) is not a missing metric.
    gates = (
        {}
        if ds.advisory
        else {
            f"{ds.name}.{name}": bound.model_dump(exclude_none=True)
            for name, bound in ds.gates.items()
            if f"{ds.name}.{name}" in metrics or name.split(".")[-1] in ("leaks", "errors")
        }
    )
    return metrics, gates, rows_out


def turn_suite(suite: str) -> Any:
    """The harness entry for one suite: all its datasets."""

    def run_suite(runtime: Runtime) -> dict[str, Any]:
        metrics: dict[str, float] = {}
        gates: dict[str, dict[str, float]] = {}
        rows: list[dict[str, Any]] = []
        for ds in c.datasets(suite):
            m, g, r = run_dataset(runtime, ds)
            metrics |= m
            gates |= g
            rows += r
        return {"metrics": metrics, "gates": gates, "cases": rows}

    run_suite.__name__ = f"run_{suite}"
    return run_suite
