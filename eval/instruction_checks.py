"""Instruction following, judged from the user's side: did the writer do what the person asked?

    python -m eval.instruction_checks [--data-dir DIR] [--json FILE]

Datasets: ``eval/datasets/<skill>_users.yaml`` (reply_suggestion, marketing_copy): requests phrased as
agents and marketers phrase them, each with ``checks`` a reviewer would make. Every case runs through
``Assistant.turn`` as the named user (``turns:`` = a conversation, checked on its last answer), so routing
of follow-ups, permissions and the citation filter are the product's own.

Checks (each one passes or fails; a case passes when all its checks do):

* ``language``   the customer-facing text is in zh / en (share of Chinese characters among letters)
* ``channels``   one set of variants for every channel asked (marketing)
* ``count``      that many *distinct* variants per channel (``part: subject|headline``: distinct subjects)
* ``max_chars``  every variant's main text within N characters, each character counted (punctuation too)
* ``stated``     the agent's own words (their plan) are in the draft
* ``expect``     record facts in the answer; ``forbid`` not in the draft; ``forbid_copy`` not in the copy
* ``note``       the answer says this (what could not be done, and why)
* ``grounded``   no date, time, amount or promise beyond the ticket record and what the agent stated
                 (the promise guard's own rules, applied to the final draft with the record as grounding)
* ``needs_choice`` a question back with at least N options — a normal answer, not a 4xx
* ``skill``      the turn was answered by this skill (a follow-up stays on it)
* banned terms   no ad-law banned term in the copy (marketing, always)

The ``users`` metrics sit next to the old cases' pass rate (eval/skills_eval.py) in the skills suite.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from copilot.core.errors import CopilotError
from copilot.crm.principal import load_principal
from skills import compliance
from skills.base import PageContext, SkillRequest, SkillResult
from skills.instructions import char_count
from skills.promise_guard import guard

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from copilot.service.runtime import Runtime

DATASETS = Path(__file__).parent / "datasets"
SKILLS = ("reply_suggestion", "marketing_copy")
MAIN_FIELD = {"wecom": "body", "moments": "body", "email": "body", "sms": "body", "poster": "sub", "article": "body"}
PART_FIELD = {("email", "subject"): "subject", ("poster", "headline"): "headline", ("article", "headline"): "title"}
_CJK = re.compile(r"[\u4e00-\u9fff]")
_LATIN = re.compile(r"[A-Za-z]")


def load_user_cases(skill: str) -> list[dict[str, Any]]:
    path = DATASETS / f"{skill}_users.yaml"
    if not path.exists():
        return []
    return list((yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("cases", []))


def language_of(text: str) -> str:
    """zh when Chinese characters are at least a fifth of the letters: names and record values quoted in
    Chinese do not make an English draft Chinese, a Latin product code does not make a Chinese one English."""
    cjk, latin = len(_CJK.findall(text)), len(_LATIN.findall(text))
    return "zh" if cjk and cjk * 5 >= (cjk + latin) else "en"


def _page(case: dict[str, Any]) -> PageContext | None:
    if not case.get("context"):
        return None
    kind, _, rid = str(case["context"]).partition(":")
    return PageContext(object_type=kind, object_id=int(rid))


def run_turns(runtime: Runtime, session: Session, skill: str, case: dict[str, Any]) -> SkillResult:
    """The case's message (or conversation) as the user types it; the skill is named on the first turn only:
    a follow-up is routed by the conversation, as in the product."""
    principal = load_principal(session, case["as"])
    turns = list(case.get("turns") or [case["message"]])
    result: SkillResult | None = None
    for i, message in enumerate(turns):
        request = SkillRequest(message=message, context=_page(case) if i == 0 else None)
        result = runtime.assistant.turn(
            session,
            principal,
            request,
            skill=skill if i == 0 else None,
            conversation_id=result.conversation_id if result is not None else None,
        )
    assert result is not None
    return result


def _copy_variants(result: SkillResult) -> dict[str, list[dict[str, str]]]:
    by_channel = result.data.get("by_channel")
    if isinstance(by_channel, dict) and by_channel:
        return {str(k): list(v) for k, v in by_channel.items()}
    variants = result.data.get("variants")
    if isinstance(variants, list) and variants:
        return {str(result.data.get("channel") or "?"): variants}
    return {}


def customer_text(skill: str, result: SkillResult) -> str:
    """What the customer would read: the reply draft, or the copy itself — never the notes to the user."""
    if skill == "reply_suggestion":
        return str(result.data.get("draft") or result.answer)
    variants = _copy_variants(result)
    return "\n".join(v for vs in variants.values() for x in vs for v in x.values() if isinstance(v, str))


def ticket_grounding(session: Session, ticket_id: int) -> str:
    """The ticket row as text, read straight from the table: what a reply may repeat."""
    from sqlalchemy import text

    row = session.execute(text("SELECT * FROM tickets WHERE id = :i"), {"i": ticket_id}).mappings().first()
    return " ".join(str(v) for v in (row or {}).values() if v is not None)


def judge(session: Session, skill: str, case: dict[str, Any], result: SkillResult) -> dict[str, bool]:
    checks = dict(case.get("checks") or {})
    text = customer_text(skill, result)
    answer = result.answer
    out: dict[str, bool] = {}
    if "skill" in checks:
        out["skill"] = result.skill == checks["skill"]
    if "needs_choice" in checks:
        need = result.data.get("needs_choice") or {}
        out["needs_choice"] = len(need.get("options") or []) >= int(checks["needs_choice"])
        return out
    if "language" in checks:
        out["language"] = bool(text.strip()) and language_of(text) == checks["language"]
    variants = _copy_variants(result)
    if "channels" in checks:
        out["channels"] = all(variants.get(ch) for ch in checks["channels"])
    if "count" in checks:
        n = int(checks["count"])
        if skill == "reply_suggestion":
            blocks = [b for b in re.split(r"(?:^|\n)(?:版本|Variant)\s*\d+[：:]", text) if b.strip()]
            out["count"] = len(blocks) == n and len(set(blocks)) == n
        else:
            ok = bool(variants)
            for ch, vs in variants.items():
                key = PART_FIELD.get((ch, str(checks.get("part") or "")))
                items = [str(x.get(key, "")) for x in vs] if key else [json.dumps(x, sort_keys=True) for x in vs]
                ok = ok and len(vs) == n and len(set(items)) == n and all(items)
            out["count"] = ok
    if "max_chars" in checks:
        limit = int(checks["max_chars"])
        if skill == "reply_suggestion":
            out["max_chars"] = char_count(text) <= limit
        else:
            mains = [str(x.get(MAIN_FIELD.get(ch, "body"), "")) for ch, vs in variants.items() for x in vs]
            out["max_chars"] = bool(mains) and all(char_count(m) <= limit for m in mains)
    if "stated" in checks:
        low = text.lower()
        out["stated"] = all(str(s).lower() in low for s in checks["stated"])
    if "expect" in checks:
        out["expect"] = all(str(s) in answer or str(s) in text for s in checks["expect"])
    if "forbid" in checks:
        out["forbid"] = not any(str(s) in text for s in checks["forbid"])
    if "forbid_copy" in checks:
        out["forbid_copy"] = not any(str(s) in text for s in checks["forbid_copy"])
    if "note" in checks:
        notes = answer.replace(text, "") if text else answer
        out["note"] = all(str(s) in notes for s in checks["note"])
    if checks.get("grounded") and case.get("context", "").startswith("ticket:"):
        ticket_id = int(str(case["context"]).split(":")[1])
        stated = [s for s in (result.data.get("stated") or []) if isinstance(s, str)]
        out["grounded"] = not guard(text, ticket_grounding(session, ticket_id), stated=stated).removed
    if skill == "marketing_copy" and variants:
        out["no_banned"] = not compliance.find_banned(text)
    return out


def run_case(runtime: Runtime, skill: str, case: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {"id": case["id"], "skill": skill}
    with runtime.sessions() as session:
        try:
            result = run_turns(runtime, session, skill, case)
            session.commit()
        except CopilotError as exc:
            row.update(ok=False, checks={}, error=f"{exc.status_code}: {str(exc)[:160]}")
            return row
        checks = judge(session, skill, case, result)
    row.update(ok=bool(checks) and all(checks.values()), checks=checks, failed=[k for k, v in checks.items() if not v])
    return row


def summarise(skill: str, rows: list[dict[str, Any]]) -> dict[str, float]:
    checks = [v for r in rows for v in (r.get("checks") or {}).values()]
    return {
        f"{skill}.users.cases": float(len(rows)),
        f"{skill}.users.pass_rate": sum(1 for r in rows if r["ok"]) / len(rows) if rows else 0.0,
        f"{skill}.users.checks_passed": sum(1 for v in checks if v) / len(checks) if checks else 0.0,
        f"{skill}.users.errors": float(sum(1 for r in rows if r.get("error"))),
    }


def run_users(runtime: Runtime, skills: tuple[str, ...] = SKILLS) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """The hook for eval/skills_eval.py: metrics (advisory, no gate yet) and case rows for every skill."""
    metrics: dict[str, float] = {}
    cases: list[dict[str, Any]] = []
    for skill in skills:
        rows = [run_case(runtime, skill, case) for case in load_user_cases(skill)]
        if rows:
            metrics.update(summarise(skill, rows))
            cases.extend(rows)
    return metrics, cases


def side_by_side(runtime: Runtime, skills: tuple[str, ...] = SKILLS) -> dict[str, Any]:
    """Old cases (eval/datasets/<skill>.yaml, the skills suite's pass rate) next to the user-phrased ones."""
    from eval.skill_cases import load_cases
    from eval.skills_eval import run_case as run_old_case

    report: dict[str, Any] = {}
    for skill in skills:
        old = [run_old_case(runtime, skill, c) for c in load_cases(skill)]
        new = [run_case(runtime, skill, c) for c in load_user_cases(skill)]
        report[skill] = {
            "old": {"cases": len(old), "pass_rate": round(sum(1 for r in old if r.get("ok")) / (len(old) or 1), 3)},
            "users": {k.split(".users.")[1]: round(v, 3) for k, v in summarise(skill, new).items()},
            "user_failures": [
                {"id": r["id"], "failed": r.get("failed"), "error": r.get("error")} for r in new if not r["ok"]
            ],
        }
    return report


def main(argv: list[str] | None = None) -> int:
    from copilot.core.settings import Settings
    from copilot.service.runtime import Runtime

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, help="a data dir holding the demo org and its KB (default: settings)")
    parser.add_argument("--json", type=Path, help="also write the report here")
    args = parser.parse_args(argv)
    settings = Settings(data_dir=args.data_dir) if args.data_dir else Settings()
    runtime = Runtime(settings)
    try:
        report = side_by_side(runtime)
    finally:
        runtime.close()
    text = json.dumps(report, ensure_ascii=False, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
