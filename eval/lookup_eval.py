"""Lookups from the user's side: the exact set of records each request should return, through the turn.

    python -m eval.lookup_eval [--database-url URL] [--routed] [--json FILE]

Cases live in ``eval/datasets/ticket_lookup_users.yaml`` and ``record_lookup_users.yaml`` (gated), and in
the blind probes ``*_lookup_paraphrase.yaml`` (report-only, same format); each carries
the hand-written SQL whose ids are its expected answer (run here against the same demo database, so a
reviewer can rerun it by hand). Each case is one ``Assistant.turn`` as its asker on the pinned demo day:
naming the skill (``--routed`` off) or letting the router choose (``--routed``: a case routed to
another skill scores 0). Scored: exact set of ``data.rows`` ids with ``data.total`` equal to its size,
and Jaccard of the two sets.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import text
from sqlalchemy.orm import Session

from copilot.core.errors import CopilotError
from copilot.crm.principal import load_principal
from skills.base import PageContext, SkillRequest

DATASETS = Path(__file__).parent / "datasets"
SUITES = {"ticket_lookup": "ticket_lookup_users", "record_lookup": "record_lookup_users"}
# Blind probes (``*_paraphrase.yaml``): requests written by a later session before it read the parser or
# its vocabulary. Report-only: measured next to the user sets, no gate.
PARAPHRASE = {"ticket_lookup": "ticket_lookup_paraphrase", "record_lookup": "record_lookup_paraphrase"}


def load(suite: str) -> list[dict[str, Any]]:
    return list((yaml.safe_load((DATASETS / f"{suite}.yaml").read_text(encoding="utf-8")) or {}).get("cases", []))


def expected_ids(session: Session, case: dict[str, Any]) -> set[int]:
    """The case's own SQL, written by hand against the demo schema (trusted dataset text, not user input)."""
    return {int(r[0]) for r in session.execute(text(case["sql"]))}


def judge(session: Session, runtime: Any, skill: str, case: dict[str, Any], routed: bool) -> dict[str, Any]:
    want = expected_ids(session, case)
    page = None
    if case.get("context"):
        kind, _, rid = str(case["context"]).partition(":")
        page = PageContext(object_type=kind, object_id=int(rid))
    request = SkillRequest(message=str(case["message"]), context=page, locale=case.get("locale"))
    principal = load_principal(session, case["as"])
    row: dict[str, Any] = {"id": case["id"], "message": case["message"], "expected": len(want)}
    try:
        result = runtime.assistant.turn(session, principal, request, skill=None if routed else skill)
    except CopilotError as exc:
        row.update(exact=False, jaccard=0.0, got=f"error {exc.status_code}: {exc}")
        return row
    got = {int(r["id"]) for r in result.data.get("rows", []) if isinstance(r, dict) and "id" in r}
    on_skill = result.skill == skill
    if not on_skill:
        got = set()
    union = want | got
    exact = on_skill and got == want and result.data.get("total") == len(want)
    row.update(
        exact=exact,
        jaccard=round(len(want & got) / len(union), 4) if union else (1.0 if on_skill else 0.0),
        skill=result.skill,
        total=result.data.get("total"),
        filters=result.data.get("filters"),
        not_understood=result.data.get("not_understood"),
    )
    if not exact:
        row.update(missing=sorted(want - got)[:10], extra=sorted(got - want)[:10])
    return row


def run_suite(session: Session, runtime: Any, skill: str, routed: bool, dataset: str | None = None) -> dict[str, Any]:
    rows = [judge(session, runtime, skill, c, routed) for c in load(dataset or SUITES[skill])]
    session.rollback()
    n = len(rows) or 1
    return {
        "cases": len(rows),
        "exact": round(sum(r["exact"] for r in rows) / n, 4),
        "jaccard": round(sum(r["jaccard"] for r in rows) / n, 4),
        "routed_elsewhere": sum(1 for r in rows if r.get("skill") not in (None, skill)),
        "failures": [r for r in rows if not r["exact"]],
        "rows": rows,
    }


def run_all(session: Session, runtime: Any, routed: bool = False, paraphrase: bool = False) -> dict[str, Any]:
    t0 = time.perf_counter()
    report: dict[str, Any] = {"routed": routed}
    for skill in SUITES:
        report[skill] = run_suite(session, runtime, skill, routed)
        if paraphrase:
            report[PARAPHRASE[skill]] = run_suite(session, runtime, skill, routed, PARAPHRASE[skill])
    report["seconds"] = round(time.perf_counter() - t0, 2)
    return report


def paraphrase_sets(runtime: Any, metrics: dict[str, float], cases: list[dict[str, Any]]) -> None:
    """The other skills' blind probes (``eval/datasets/*_paraphrase.yaml``: requests written before their
    writer read the skills' code, each in the dialect of its ``*_users.yaml`` twin), report-only with the
    lookup probes: ``<set>.*`` metrics, no gate. Each is judged by its twin's judge (imported on call; here
    rather than in skills_eval, which instruction_checks imports)."""
    from copilot.demo.generator import DEMO_TODAY
    from eval import conversation_eval, instruction_checks
    from eval.skill_cases import DATASETS as SETS
    from eval.skill_cases import _summary, judge_nba, load_cases, pinned_day
    from eval.skills_eval import run_case, summarise

    rows = [run_case(runtime, "record_qa", c) for c in load_cases("record_qa_paraphrase")]
    if rows:
        metrics.update(summarise("record_qa_paraphrase", rows))
        cases.extend({k: v for k, v in r.items() if k != "_ragas"} | {"set": "paraphrase"} for r in rows)
    for skill in ("reply_suggestion", "marketing_copy"):
        rows = [instruction_checks.run_case(runtime, skill, c) for c in load_cases(f"{skill}_paraphrase")]
        if rows:
            part = instruction_checks.summarise(skill, rows)
            metrics.update({k.replace(".users.", "_paraphrase."): v for k, v in part.items()})
            cases.extend(r | {"set": "paraphrase"} for r in rows)
    with pinned_day(runtime, DEMO_TODAY) as rt, rt.sessions() as session:
        nba_rows = [judge_nba(session, rt, c) for c in load_cases("next_best_action_paraphrase")]
        nba = _summary("nba", "precision_at_1", nba_rows)
        session.commit()
    if nba["cases"]:
        metrics["next_best_action_paraphrase.cases"] = float(nba["cases"])
        metrics["next_best_action_paraphrase.precision_at_1"] = float(nba["precision_at_1"])
        cases.extend(r | {"set": "next_best_action_paraphrase"} for r in nba["failures"])
    path = SETS / "conversation_paraphrase.yaml"
    if path.exists():
        conv = []
        for c in conversation_eval.load_cases(path):
            try:
                conv.append(conversation_eval.run_case(runtime, c))
            except CopilotError as exc:
                conv.append({"id": c["id"], "ok": False, "error": f"{exc.status_code}: {exc}"})
        metrics["conversation_paraphrase.cases"] = float(len(conv))
        metrics["conversation_paraphrase.case_accuracy"] = round(sum(1 for r in conv if r.get("ok")) / len(conv), 4)
        cases.extend(r | {"set": "conversation_paraphrase"} for r in conv if not r.get("ok"))


GATES = {
    "ticket_lookup_users.exact": {"min": 0.9},
    "record_lookup_users.exact": {"min": 0.9},
    "ticket_lookup_users.routed.exact": {"min": 0.85},
    "record_lookup_users.routed.exact": {"min": 0.85},
}


def harness_suite(runtime: Any) -> dict[str, Any]:
    """Harness entry (``crm-copilot eval run --suite lookups``): each user-phrased set twice, naming the
    skill and letting the router choose, against the harness's demo database."""
    metrics: dict[str, float] = {}
    failures: list[dict[str, Any]] = []
    with runtime.sessions() as session:
        for routed in (False, True):
            report = run_all(session, runtime, routed=routed, paraphrase=True)
            for skill, name in [*SUITES.items(), *PARAPHRASE.items()]:
                part = report[skill if name == SUITES[skill] else name]
                prefix = f"{name}.routed" if routed else name
                metrics[f"{prefix}.cases"] = float(part["cases"])
                metrics[f"{prefix}.exact"] = part["exact"]
                metrics[f"{prefix}.jaccard"] = part["jaccard"]
                if routed:
                    metrics[f"{prefix}.routed_elsewhere"] = float(part["routed_elsewhere"])
                failures.extend({"suite": prefix, **row} for row in part["failures"])
    paraphrase_sets(runtime, metrics, failures)
    return {"metrics": metrics, "gates": GATES, "cases": failures}


def main(argv: list[str] | None = None) -> int:
    from copilot.core.settings import Settings
    from copilot.demo.generator import DEMO_TODAY
    from copilot.service.runtime import Runtime
    from eval.skill_cases import _demo_database

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="a database holding the demo org (default: generate one)")
    parser.add_argument("--routed", action="store_true", help="let the router pick the skill")
    parser.add_argument("--paraphrase", action="store_true", help="also run the blind probes (*_paraphrase.yaml)")
    parser.add_argument("--json", type=Path, help="also write the report here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or _demo_database(Path(tmp) / "demo.sqlite3")
        runtime = Runtime(Settings(database_url=url, today=DEMO_TODAY, data_dir=Path(tmp)))
        with runtime.sessions() as session:
            report = run_all(session, runtime, routed=args.routed, paraphrase=args.paraphrase)
        runtime.close()
    out = json.dumps(report, ensure_ascii=False, indent=2, default=str)
    print(out)
    if args.json:
        args.json.write_text(out, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
