"""The skills suite: our own cases per skill against the demo org, driven through Assistant.turn.

Datasets: ``eval/datasets/<skill>.yaml`` (``cases:`` list). A case names the asker, the page record,
the message and input, and what a user would check: strings that must appear (``expect``), sources
that must be cited (``cite``: ``crm:<type>:<id>`` or ``doc:<kb doc id>``), strings that must not appear
(``forbid``), and strings that must not appear because field-level security hides them (``fls``).
``error: forbidden`` (or ``not_found``, ``bad_request``) expects the turn to be refused.

Metrics per skill: fact recall, citation recall, citations outside what was retrieved (the assistant
drops them and warns; any is a skill bug), FLS leaks, forbidden hits, banned ad-law terms in any
output, and SMS bodies over 70 characters. Recall metrics have floors; the rest must be zero.

ragas metrics per skill (eval/ragas_metrics.py), next to ours: ``<skill>.ragas.id_context_precision``
and ``.id_context_recall`` of the turn's citations (``kb:<doc>#<chunk>`` read as ``doc:<doc>``) against
the case's ``cite``; ``.string_presence`` and ``.string_similarity`` of each ``expect`` fact against
what the user reads. Recall and presence get the same 0.9 floor as ours (ragas' recall is the stricter
one: it reads only the citation list, where ours also accepts a doc named in ``data.sources``).
Precision is measured against labels that name the sources a user must see, not every useful one
(troubleshoot also cites the product and the service history), so it and the advisory similarity
have no gate; the baseline still catches a drop.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from copilot.core.errors import CopilotError
from copilot.crm.principal import load_principal
from eval import ragas_metrics
from eval.skill_cases import ERROR_CODES, load_cases, request_for
from skills import compliance
from skills.base import SkillResult

if TYPE_CHECKING:
    from copilot.service.runtime import Runtime

# next_best_action and ticket_lookup have their own case format and judge (eval/skill_cases.py); their
# metrics are folded into this suite by ``_deterministic_skills`` below.
SKILLS = ("record_qa", "troubleshoot", "reply_suggestion", "marketing_copy")
FLOORS = {"fact_recall": 0.9, "citation_recall": 0.9, "ragas.id_context_recall": 0.9, "ragas.string_presence": 0.9}
SAME_FORMAT_USER_SETS = ("record_qa",)
ZERO = ("citations_not_retrieved", "fls_leaks", "forbidden_hits", "banned_terms", "sms_over_limit", "errors")


def _cited(result: SkillResult, ref: str) -> bool:
    ids = [c.id for c in result.citations]
    if ref.startswith("doc:"):
        doc = ref[4:]
        sources = set(result.data.get("sources") or []) | {str(result.data.get("article") or "")}
        return doc in sources or any(doc in i for i in ids)
    return ref in ids


def _source_id(citation_id: str) -> str:
    """A citation id in the datasets' ``cite`` vocabulary: ``kb:<doc>#<chunk>`` → ``doc:<doc>``."""
    if citation_id.startswith("kb:"):
        return "doc:" + citation_id[3:].split("#", 1)[0]
    return citation_id


def _ragas_scores(result: SkillResult, text: str, expect: list[str], cite: list[str]) -> ragas_metrics.Scores:
    scores = ragas_metrics.Scores()
    if cite:
        cited = list(dict.fromkeys(_source_id(c.id) for c in result.citations))
        ragas_metrics.id_context_scores(cited, cite, scores)
    if expect:
        ragas_metrics.string_scores(expect, text, scores)
    return scores


def _outputs(result: SkillResult) -> str:
    """Everything a user could read: the answer and the structured copy variants."""
    return result.answer + "\n" + json.dumps(result.data.get("variants", []), ensure_ascii=False)


def run_case(runtime: Runtime, skill: str, case: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"id": case["id"], "skill": skill}
    with runtime.sessions() as session:
        principal = load_principal(session, case["as"])
        try:
            result = runtime.assistant.turn(session, principal, request_for(case), skill=skill)
            session.commit()
        except CopilotError as exc:
            expected = ERROR_CODES.get(str(case.get("error")))
            out.update(ok=expected == exc.status_code, refused=exc.status_code, detail=str(exc)[:200])
            out["error_unexpected"] = expected != exc.status_code
            return out
    if case.get("error"):
        out.update(ok=False, error_unexpected=True, detail="expected a refusal, got an answer")
        return out
    text = _outputs(result)
    expect = [str(s) for s in case.get("expect", [])]
    cite = [str(s) for s in case.get("cite", [])]
    found = [s for s in expect if s in text]
    cited = [c for c in cite if _cited(result, c)]
    fls = [s for s in case.get("fls", []) if str(s) in text]
    forbid = [s for s in case.get("forbid", []) if str(s) in text]
    banned = compliance.find_banned(text) if skill == "marketing_copy" else []
    sms_over = [
        v
        for v in result.data.get("variants", [])
        if result.data.get("channel") == "sms" and len(v.get("body", "")) > 70
    ]
    out.update(
        expect=len(expect),
        found=len(found),
        missing=[s for s in expect if s not in found],
        cite=len(cite),
        cited=len(cited),
        uncited=[c for c in cite if c not in cited],
        not_retrieved="citations_dropped_not_retrieved" in result.warnings,
        fls=fls,
        forbidden=forbid,
        banned=banned,
        sms_over=len(sms_over),
        provider=result.provider,
        degraded=result.degraded,
    )
    scores = _ragas_scores(result, text, expect, cite)
    out["_ragas"] = scores
    out["ragas"] = ragas_metrics.as_row(scores)
    out["ok"] = (
        len(found) == len(expect)
        and len(cited) == len(cite)
        and not (fls or forbid or banned or sms_over)
        and not out["not_retrieved"]
    )
    return out


def summarise(skill: str, rows: list[dict[str, Any]]) -> dict[str, float]:
    expect = sum(r.get("expect", 0) for r in rows)
    cite = sum(r.get("cite", 0) for r in rows)
    return {
        f"{skill}.cases": float(len(rows)),
        f"{skill}.passed": float(sum(1 for r in rows if r.get("ok"))),
        f"{skill}.fact_recall": sum(r.get("found", 0) for r in rows) / expect if expect else 1.0,
        f"{skill}.citation_recall": sum(r.get("cited", 0) for r in rows) / cite if cite else 1.0,
        f"{skill}.citations_not_retrieved": float(sum(1 for r in rows if r.get("not_retrieved"))),
        f"{skill}.fls_leaks": float(sum(len(r.get("fls", [])) for r in rows)),
        f"{skill}.forbidden_hits": float(sum(len(r.get("forbidden", [])) for r in rows)),
        f"{skill}.banned_terms": float(sum(len(r.get("banned", [])) for r in rows)),
        f"{skill}.sms_over_limit": float(sum(r.get("sms_over", 0) for r in rows)),
        f"{skill}.errors": float(sum(1 for r in rows if r.get("error_unexpected"))),
    } | ragas_metrics.mean((r["_ragas"] for r in rows if "_ragas" in r), prefix=f"{skill}.")


def run_suite(runtime: Runtime, skills: tuple[str, ...] = SKILLS, *, include_others: bool = True) -> dict[str, Any]:
    metrics: dict[str, float] = {}
    gates: dict[str, dict[str, float]] = {}
    cases: list[dict[str, Any]] = []
    # record_qa's user-phrased set (record_qa_users.yaml) has this suite's case format: it runs here too,
    # reported under its own name next to the old cases.
    datasets = [(s, s) for s in skills] + [(f"{s}_users", s) for s in skills if s in SAME_FORMAT_USER_SETS]
    for dataset, skill in datasets:
        rows = []
        for case in load_cases(dataset):
            t0 = time.perf_counter()
            row = run_case(runtime, skill, case)
            row["ms"] = round((time.perf_counter() - t0) * 1000, 1)
            rows.append(row)
        if not rows:
            continue
        skill_metrics = summarise(dataset, rows)
        cases.extend({k: v for k, v in r.items() if k != "_ragas"} for r in rows)
        metrics.update(skill_metrics)
        gates.update(
            {
                f"{dataset}.{name}": {"min": floor}
                for name, floor in FLOORS.items()
                if f"{dataset}.{name}" in skill_metrics
            }
        )
        gates.update({f"{dataset}.{name}": {"max": 0} for name in ZERO})
    if include_others:
        _deterministic_skills(runtime, metrics, gates)
    return {"metrics": metrics, "gates": gates, "cases": cases}


def _deterministic_skills(runtime: Runtime, metrics: dict[str, float], gates: dict[str, dict[str, float]]) -> None:
    """next_best_action and ticket_lookup, judged by their owner's runner, in the same suite."""
    try:
        from copilot.demo.generator import DEMO_TODAY
        from eval.skill_cases import BARS, run_all
    except ImportError:
        return
    report = run_all(runtime, DEMO_TODAY)
    for skill in ("next_best_action", "next_best_action_users", "ticket_lookup"):
        part = report.get(skill)
        if not part:
            continue
        for name in ("cases", "precision_at_1", "exact_match", "fls_leaks", "citations_outside"):
            if name in part:
                metrics[f"{skill}.{name}"] = float(part[name])
        gates[f"{skill}.fls_leaks"] = {"max": 0}
        gates[f"{skill}.citations_outside"] = {"max": 0}
    for key, bar in BARS.items():
        if key in metrics:
            gates[key] = {"min": bar}
