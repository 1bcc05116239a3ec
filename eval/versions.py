"""Template version comparison: the cases one prompt template affects, run with version A and with B.

``crm-copilot eval run --compare record_qa@2,record_qa@3`` builds two runtimes on the same fresh demo,
each with that template pinned to one version (every other template as deployed), reruns only the
cases the template affects — every dataset whose skill renders it, and the conversation, instruction
and leak cases expecting that skill — and prints a delta table per metric, with the cases that flipped.

Every report records the templates it ran with (``templates``: ``id@version`` → content hash, and the
latest version per id). Against a baseline, a template whose latest version or content changed is
named; a new latest version whose predecessor is still packaged is compared with it automatically.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from copilot.core.errors import BadRequest
from eval import cases as c
from eval.suites import public, run_case, summarise

if TYPE_CHECKING:
    from rich.console import Console

    from copilot.service.runtime import Runtime
    from prompts.registry import RenderedPrompt


LOWER_IS_BETTER = (".leaks", ".errors", "_hits", "_not_retrieved")


class PinnedRegistry:
    """The deployment's registry with one template id pinned to a version; everything else passes through."""

    def __init__(self, inner: Any, template_id: str, version: str) -> None:
        self._inner, self._template_id, self._version = inner, template_id, version

    def render(
        self, template_id: str, variables: Mapping[str, Any], *, version: str | int | None = None, locale: str = "zh"
    ) -> RenderedPrompt:
        if template_id == self._template_id:
            version = self._version
        return self._inner.render(template_id, variables, version=version, locale=locale)  # type: ignore[no-any-return]

    def get(self, template_id: str, version: str | int | None = None, locale: str = "zh") -> Any:
        if template_id == self._template_id:
            version = self._version
        return self._inner.get(template_id, version, locale)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def fingerprints(runtime: Runtime) -> dict[str, Any]:
    reg = runtime.prompts
    out: dict[str, Any] = {"hashes": {}, "latest": {}, "skills": {}}
    for entry in reg.list():
        tid = entry["id"]
        out["latest"][tid] = entry["latest"]
        out["skills"][tid] = entry["skill"]
        for v in entry["versions"]:
            out["hashes"][f"{tid}@{v}"] = sorted(t.hash for t in reg._templates[tid][v].values())
    return out


def changed_since(runtime: Runtime, baseline: Mapping[str, Any]) -> list[str]:
    before = baseline.get("templates") or {}
    if not before:
        return []
    now = fingerprints(runtime)
    changes = []
    for tid, latest in now["latest"].items():
        old = before.get("latest", {}).get(tid)
        if old is None:
            changes.append(f"{tid}: new template")
        elif old != latest:
            changes.append(f"{tid}: latest {old} → {latest}")
        elif before.get("hashes", {}).get(f"{tid}@{latest}") != now["hashes"].get(f"{tid}@{latest}"):
            changes.append(f"{tid}@{latest}: content changed")
    return changes


def auto_pairs(runtime: Runtime, baseline: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(template, old latest, new latest) for every template whose latest version moved since the baseline."""
    before = (baseline.get("templates") or {}).get("latest", {})
    now = fingerprints(runtime)
    return [
        (tid, before[tid], latest)
        for tid, latest in now["latest"].items()
        if tid in before and before[tid] != latest and f"{tid}@{before[tid]}" in now["hashes"]
    ]


def parse_compare(spec: str) -> tuple[str, str, str]:
    parts = [p.strip() for p in spec.split(",")]
    if len(parts) != 2 or any("@" not in p for p in parts):
        raise BadRequest(f"--compare wants TEMPLATE@A,TEMPLATE@B, got {spec!r}")
    (ta, va), (tb, vb) = (p.split("@", 1) for p in parts)
    if ta != tb:
        raise BadRequest(f"--compare compares two versions of one template, got {ta!r} and {tb!r}")
    return ta, va, vb


def affected(template_skill: str | None) -> list[tuple[c.Dataset, list[c.Case]]]:
    """The cases a template reaches: every case of a dataset of its skill; in the conversation, instruction
    and leak sets, the cases expecting that skill to answer."""
    out = []
    for ds in c.datasets():
        if ds.suite in ("router", "retrieval"):
            continue
        if ds.skill == template_skill:
            out.append((ds, list(ds.cases)))
            continue
        picked = [case for case in ds.cases if any(a.value == template_skill for a in case.of(c.SkillIs))]
        if picked:
            out.append((ds, picked))
    return out


def pinned(runtime: Runtime, template_id: str, version: str) -> Runtime:
    """The same deployment (database, index, model), with one template pinned."""
    from copilot.service.runtime import Runtime

    try:
        runtime.prompts.get(template_id, version)
    except Exception as exc:
        raise BadRequest(str(exc)) from exc
    rt = Runtime(runtime.settings)
    rt.__dict__["engine"] = runtime.engine
    rt.__dict__["kb"] = runtime.kb
    rt.__dict__["embedder"] = runtime.embedder
    rt.__dict__["prompts"] = PinnedRegistry(runtime.prompts, template_id, version)
    return rt


def run_version(runtime: Runtime, template_id: str, version: str) -> dict[str, Any]:
    rt = pinned(runtime, template_id, version)
    skill = fingerprints(runtime)["skills"].get(template_id)
    metrics: dict[str, float] = {}
    rows: list[dict[str, Any]] = []
    for ds, picked in affected(skill):
        got = [run_case(rt, ds, case) for case in picked]
        metrics |= summarise(ds.name, got)
        rows += [public(r) for r in got]
    return {"ref": f"{template_id}@{version}", "metrics": metrics, "cases": rows}


def compare_versions(runtime: Runtime, template_id: str, a: str, b: str) -> dict[str, Any]:
    ra, rb = run_version(runtime, template_id, a), run_version(runtime, template_id, b)
    names = sorted(set(ra["metrics"]) | set(rb["metrics"]))
    delta = [
        {
            "metric": n,
            "a": ra["metrics"].get(n),
            "b": rb["metrics"].get(n),
            "delta": None
            if n not in ra["metrics"] or n not in rb["metrics"]
            else round(rb["metrics"][n] - ra["metrics"][n], 4),
        }
        for n in names
    ]
    by_a = {(r["set"], r["id"]): r for r in ra["cases"]}
    flips = [
        {
            "set": r["set"],
            "id": r["id"],
            "a": by_a[(r["set"], r["id"])]["ok"],
            "b": r["ok"],
            "answer_a": by_a[(r["set"], r["id"])]["answer"],
            "answer_b": r["answer"],
            "failed_b": r["failed"],
            "failed_a": by_a[(r["set"], r["id"])]["failed"],
            "context": r["context"],
        }
        for r in rb["cases"]
        if (r["set"], r["id"]) in by_a and by_a[(r["set"], r["id"])]["ok"] != r["ok"]
    ]
    return {
        "template": template_id,
        "a": ra["ref"],
        "b": rb["ref"],
        "cases": len(rb["cases"]),
        "delta": delta,
        "flips": flips,
    }


def compare_cli(runtime: Runtime, spec: str, baseline: Mapping[str, Any] | None) -> dict[str, Any]:
    """``eval run --compare``: the comparison as a report (gated on B: no leak, no error, no lost case)."""
    tid, a, b = parse_compare(spec)
    comparison = compare_versions(runtime, tid, a, b)
    worse = [d for d in comparison["delta"] if _worse(d)]
    return {
        "passed": not worse,
        "regressions": [f"{d['metric']}: {d['a']:.4g} → {d['b']:.4g}" for d in worse],
        "suites": {},
        "comparison": comparison,
        "templates": fingerprints(runtime),
    }


def _worse(d: dict[str, Any]) -> bool:
    if d["delta"] is None or d["metric"].endswith(("_ms", ".cases", "string_similarity")):
        return False  # timings, sizes and ragas' advisory wording similarity do not decide
    lower_is_better = d["metric"].endswith(LOWER_IS_BETTER)
    return d["delta"] > 0 if lower_is_better else d["delta"] < -0.02


def print_delta(console: Console, comparison: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(title=f"{comparison['cases']} cases rerun")
    table.add_column("metric", overflow="fold")
    for head in (comparison["a"], comparison["b"], "Δ"):
        table.add_column(head, justify="right")
    for d in comparison["delta"]:
        if d["metric"].endswith(("_ms",)):
            continue
        fmt = [("—" if v is None else f"{v:.4g}") for v in (d["a"], d["b"], d["delta"])]
        style = (
            "red"
            if _worse(d)
            else ("green" if (d["delta"] or 0) > 0 and not d["metric"].endswith((".leaks", ".errors")) else None)
        )
        table.add_row(d["metric"], *fmt, style=style)
    console.print(table)
    for f in comparison["flips"]:
        console.print(f"{'[green]fixed' if f['b'] else '[red]broken'}[/] {f['set']}/{f['id']}: {f['failed_b'] or ''}")


def renders_with_latest(runtime: Runtime, template_id: str, version: str) -> bool:
    """Whether ``version`` takes the variables the skill passes today (the latest version's): an old version
    whose variables changed type or that needs one no longer passed cannot be run against the current skill."""
    reg = runtime.prompts
    latest = reg.get(template_id).spec.variables
    old = reg.get(template_id, version).spec.variables
    for name, var in old.items():
        now = latest.get(name)
        if now is None and var.required:
            return False
        if now is not None and now.type != var.type:
            return False
    return True


def sweep_suite(runtime: Runtime) -> dict[str, Any]:
    """The ``versions`` suite (advisory): every packaged version of each skill's template on that skill's
    own datasets, so the report can chart a metric by template version. No gate: the deployed version is
    gated by its skill's suite; this shows what an older or newer one would score."""
    fp = fingerprints(runtime)
    metrics: dict[str, float] = {}
    chart: dict[str, dict[str, float]] = {}
    for tid, skill in sorted(fp["skills"].items()):
        versions = sorted({ref.split("@", 1)[1] for ref in fp["hashes"] if ref.split("@", 1)[0] == tid})
        sets = [ds for ds in c.datasets() if ds.skill == skill and ds.suite == skill]
        if len(versions) < 2 or not sets:
            continue
        for version in versions:
            if not renders_with_latest(runtime, tid, version):
                metrics[f"{tid}@{version}.incompatible"] = 1.0
                continue
            rt = pinned(runtime, tid, version)
            rows = [run_case(rt, ds, case) for ds in sets for case in ds.cases]
            rate = round(sum(1 for r in rows if r["ok"]) / len(rows), 4) if rows else 0.0
            metrics[f"{tid}@{version}.pass_rate"] = rate
            metrics[f"{tid}@{version}.cases"] = float(len(rows))
            chart.setdefault(tid, {})[f"v{version}"] = rate
    return {"metrics": metrics, "gates": {}, "cases": [], "charts": {"versions": chart}}
