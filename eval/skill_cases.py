"""Our own cases for the two deterministic skills, next_best_action and ticket_lookup, on the demo org.

    python -m eval.skill_cases [--database-url URL] [--json FILE]

Without ``--database-url`` a fresh demo database is generated into a temporary SQLite file (same seed,
same ids). Each case is one ``Assistant.turn`` (the product's only door: input validation, injection
check, citation check, audit row) naming the skill, as the asker, on the demo's pinned day (the
``today`` setting, as ``CRM_COPILOT_TODAY`` pins it for the service), and is judged on:

* next_best_action — precision@1: the top action has the expected kind and cites the expected
  evidence (and, where given, the top signal carries ``expected_facts``); a case with
  ``expected_kind: null`` passes when no action is proposed; ``error`` cases must be refused.
* ticket_lookup — exact match of the parsed filters (``account_names`` resolved to ids by exact name),
  and of the not-understood words where given.
* both — FLS leaks (a value of a field hidden from the asker, in any format, anywhere in the output)
  and citations outside what was retrieved or readable by the asker: both must be zero.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from copilot.core.errors import CopilotError
from copilot.crm.models import Account
from copilot.crm.permissions import can, hidden_fields, model_for
from copilot.crm.principal import Principal, load_principal
from skills.base import PageContext, SkillRequest, SkillResult

if TYPE_CHECKING:
    from copilot.service.runtime import Runtime

DATASETS = Path(__file__).parent / "datasets"
BARS = {"next_best_action_users.precision_at_1": 0.8, "ticket_lookup.exact_match": 0.9}
ERROR_CODES = {"forbidden": 403, "not_found": 404, "bad_request": 400, "unprocessable": 422}


def load_cases(skill: str) -> list[dict[str, Any]]:
    """A skill's evaluation cases (``eval/datasets/<skill>.yaml``); none when it has no dataset."""
    path = DATASETS / f"{skill}.yaml"
    if not path.exists():
        return []
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return list(data.get("cases", []))


def request_for(case: dict[str, Any]) -> SkillRequest:
    context = None
    if case.get("context"):
        kind, _, rid = str(case["context"]).partition(":")
        context = PageContext(object_type=kind, object_id=int(rid))
    return SkillRequest(
        message=str(case.get("message", "")), input=case.get("input") or {}, context=context, locale=case.get("locale")
    )


def _formats(value: Any) -> set[str]:
    """The ways a hidden value could show up in text."""
    from skills.signals.render import format_money

    if value is None or value == "" or isinstance(value, bool):
        return set()
    if isinstance(value, Decimal | float | int):
        v = float(value)
        out = {f"{v:,.0f}", f"{v:.0f}", f"{v:,.2f}", format_money(v, "zh"), format_money(v, "en")}
        return {s for s in out if len(s.strip("¥RMB ,.0")) >= 2}  # skip trivial numbers ("0", "1")
    if isinstance(value, dt.date | dt.datetime):
        return {value.isoformat()[:10]}
    s = str(value)
    return {s} if len(s) >= 2 else set()


def fls_leaks(session: Session, principal: Principal, result: SkillResult) -> list[str]:
    """Hidden-field values of every record the result refers to, found in anything the result says."""
    text = result.model_dump_json()
    refs = {c.id for c in result.citations} | {e for a in result.actions for e in a.evidence}
    refs |= {f"crm:ticket:{r['id']}" for r in result.data.get("rows", []) if isinstance(r, dict) and "id" in r}
    leaks: list[str] = []
    for ref in sorted(refs):
        _, object_type, rid = ref.split(":", 2)
        hidden = hidden_fields(principal, object_type)
        if not hidden:
            continue
        record = session.get(model_for(object_type), int(rid))
        for name in sorted(hidden):
            for shown in _formats(getattr(record, name, None)):
                if shown in text:
                    leaks.append(f"{ref}.{name}={shown}")
    return leaks


def citations_outside(session: Session, principal: Principal, result: SkillResult) -> list[str]:
    """Citations the turn had to drop (the skill cited something it never retrieved), or naming a record
    the asker may not read."""
    dropped = "citations_dropped_not_retrieved" in result.warnings
    bad = ["(citations dropped: not retrieved this turn)"] if dropped else []
    for c in result.citations:
        if c.type == "crm":
            _, object_type, rid = c.id.split(":", 2)
            if not can(session, principal, object_type, int(rid)):
                bad.append(f"{c.id} (not readable)")
    return bad


def _run(
    session: Session, runtime: Runtime, skill: str, case: dict[str, Any]
) -> tuple[SkillResult | None, Principal, CopilotError | None]:
    """One turn as the case's asker (a user of the demo org: an unknown name is an error, not a stand-in)."""
    principal = load_principal(session, case["as"])
    try:
        return runtime.assistant.turn(session, principal, request_for(case), skill=skill), principal, None
    except CopilotError as exc:
        return None, principal, exc


def judge_nba(session: Session, runtime: Runtime, case: dict[str, Any]) -> dict[str, Any]:
    result, principal, exc = _run(session, runtime, "next_best_action", case)
    row: dict[str, Any] = {"id": case["id"]}
    if exc is not None or result is None:
        expected = ERROR_CODES.get(str(case.get("error")))
        row.update(ok=exc is not None and expected == exc.status_code, got=f"error {getattr(exc, 'status_code', '?')}")
        return row
    if case.get("error"):
        row.update(ok=False, got="an answer instead of a refusal")
        return row
    top = result.actions[0] if result.actions else None
    expected_kind = case.get("expected_kind")
    ok = (top is None) if expected_kind is None else (top is not None and top.kind == expected_kind)
    if ok and top is not None:
        ok = all(e in top.evidence for e in case.get("cite", []))
        facts = (result.data.get("signals") or [{}])[0].get("facts", {})
        ok = ok and all(facts.get(k) == v for k, v in (case.get("expected_facts") or {}).items())
    row.update(
        ok=ok,
        got=f"{top.kind} {top.evidence}" if top else None,
        fls=fls_leaks(session, principal, result),
        outside=citations_outside(session, principal, result),
    )
    return row


def expected_filters(session: Session, case: dict[str, Any]) -> dict[str, Any]:
    exp = dict(case.get("expected_filters") or {})
    names = exp.pop("account_names", None)
    if names is not None:
        ids = session.scalars(select(Account.id).where(Account.name.in_(names))).all()
        exp["account_ids"] = sorted(ids)
    return exp


def judge_ticket(session: Session, runtime: Runtime, case: dict[str, Any]) -> dict[str, Any]:
    result, principal, exc = _run(session, runtime, "ticket_lookup", case)
    row: dict[str, Any] = {"id": case["id"]}
    if exc is not None or result is None:
        row.update(ok=False, got=f"error {getattr(exc, 'status_code', '?')}: {exc}")
        return row
    want = expected_filters(session, case)
    got = result.data.get("filters")
    ok = got == want
    if "expected_not_understood" in case:
        ok = ok and result.data.get("not_understood") == case["expected_not_understood"]
    unreadable = [r["id"] for r in result.data.get("rows", []) if not can(session, principal, "ticket", r["id"])]
    row.update(
        ok=ok,
        got=got if not ok else None,
        want=want if not ok else None,
        not_understood=result.data.get("not_understood"),
        fls=fls_leaks(session, principal, result),
        outside=citations_outside(session, principal, result) + [f"row {i} unreadable" for i in unreadable],
    )
    return row


def _summary(skill: str, metric: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    passed = sum(1 for r in rows if r["ok"])
    return {
        "cases": len(rows),
        metric: round(passed / len(rows), 4) if rows else 0.0,
        "fls_leaks": sum(len(r.get("fls", [])) for r in rows),
        "citations_outside": sum(len(r.get("outside", [])) for r in rows),
        "failures": [r for r in rows if not r["ok"] or r.get("fls") or r.get("outside")],
    }


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
    t0 = time.perf_counter()
    with pinned_day(runtime, today) as rt, rt.sessions() as session:
        if "next_best_action" in skills:
            rows = [judge_nba(session, rt, c) for c in load_cases("next_best_action")]
            report["next_best_action"] = _summary("next_best_action", "precision_at_1", rows)
            # Deals read by hand from a sales manager's side (the gated set; the first set was ranked
            # with the round-one formula and is kept for comparison).
            rows = [judge_nba(session, rt, c) for c in load_cases("next_best_action_users")]
            if rows:
                report["next_best_action_users"] = _summary("next_best_action_users", "precision_at_1", rows)
        if "ticket_lookup" in skills:
            rows = [judge_ticket(session, rt, c) for c in load_cases("ticket_lookup")]
            report["ticket_lookup"] = _summary("ticket_lookup", "exact_match", rows)
        session.commit()  # the turns' audit rows
    report["seconds"] = round(time.perf_counter() - t0, 2)
    report["bars_met"] = all(
        report[k.split(".")[0]][k.split(".")[1]] >= bar for k, bar in BARS.items() if k.split(".")[0] in report
    ) and all(
        report[s]["fls_leaks"] == 0 and report[s]["citations_outside"] == 0
        for s in ("next_best_action", "next_best_action_users", "ticket_lookup")
        if s in report
    )
    return report


def _demo_database(path: Path) -> str:
    from sqlalchemy import create_engine

    from copilot.demo.generator import build_demo, load
    from copilot.store.schema import upgrade

    url = f"sqlite:///{path}"
    engine = create_engine(url)
    upgrade(engine)
    with Session(engine) as s, s.begin():
        load(s, build_demo())
    engine.dispose()
    return url


def main(argv: list[str] | None = None) -> int:
    from copilot.core.settings import Settings
    from copilot.demo.generator import DEMO_TODAY
    from copilot.service.runtime import Runtime

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="a database holding the demo org (default: generate one)")
    parser.add_argument("--json", type=Path, help="also write the report here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or _demo_database(Path(tmp) / "demo.sqlite3")
        runtime = Runtime(Settings(database_url=url, today=DEMO_TODAY))
        report = run_all(runtime, DEMO_TODAY)
        runtime.close()
    text = json.dumps(report, ensure_ascii=False, indent=2, default=str)
    print(text)
    if args.json:
        args.json.write_text(text, encoding="utf-8")
    return 0 if report["bars_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
