"""The conversation suite: a short reply to an earlier answer, judged on the last turn of each case.

    python -m eval.conversation_eval [--data-dir data] [--json out.json]

Dataset ``eval/datasets/conversation.yaml``: each case is the turns said in one conversation (the first
names the asker) and what a user would check on the last one: the skill that answered, the record it is
about (as stored with the turn), whether it was read as a refinement (``followup``) or as picking an
option (``choice``, and which one), and the inputs still in force. Turns run through ``Assistant.turn``
with the conversation id the previous answer carried, exactly as a client continues a conversation.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from copilot.crm.principal import load_principal
from copilot.store import conversations as store
from skills.base import PageContext, SkillRequest, SkillResult

if TYPE_CHECKING:
    from copilot.service.runtime import Runtime

DATASET = Path(__file__).parent / "datasets" / "conversation.yaml"
GATES = {"skill_accuracy": {"min": 0.9}, "record_accuracy": {"min": 0.9}, "method_accuracy": {"min": 0.9}}


def load_cases(path: Path = DATASET) -> list[dict[str, Any]]:
    return list(yaml.safe_load(path.read_text(encoding="utf-8"))["cases"])


def _page(ref: str | None) -> PageContext | None:
    if not ref:
        return None
    kind, _, rid = ref.partition(":")
    return PageContext(object_type=kind, object_id=int(rid))


def _message(text: str, previous: SkillResult | None) -> str:
    """``{option_N_name}``: reply with the name of option N of the previous answer (its first word)."""
    if previous is None or not text.startswith("{option_"):
        return text
    n = int(text.split("_")[1])
    options = previous.data.get("needs_choice", {}).get("options", [])
    return str(options[n - 1]["label"]).split()[0] if len(options) >= n else text


def run_case(runtime: Runtime, case: dict[str, Any]) -> dict[str, Any]:
    user = case["turns"][0]["as"]
    previous: SkillResult | None = None
    results: list[SkillResult] = []
    for t in case["turns"]:
        request = SkillRequest(
            message=_message(str(t["message"]), previous),
            context=_page(t.get("context")),
            input=dict(t.get("input") or {}),
        )
        with runtime.sessions() as session:
            result = runtime.assistant.turn(
                session,
                load_principal(session, user),
                request,
                skill=t.get("skill"),
                conversation_id=previous.conversation_id if previous else None,
            )
            session.commit()
        results.append(result)
        previous = result
    last, before = results[-1], results[-2] if len(results) > 1 else None
    with runtime.sessions() as session:
        conv = store.owned(session, load_principal(session, user).user_id, last.conversation_id or "")
        stored = store.turns(session, conv)[-1]
        record = f"{stored.object_type}:{stored.object_id}" if stored.object_type else None
        kept_input = dict(stored.input or {})
    return _judge(case, last, before, record, kept_input)


def _judge(
    case: dict[str, Any], last: SkillResult, before: SkillResult | None, record: str | None, kept: dict[str, Any]
) -> dict[str, Any]:
    expect = case["expect"]
    method = (last.routing or {}).get("method")
    checks: dict[str, bool] = {"skill": last.skill == expect["skill"]}
    want_record = expect.get("record")
    if expect.get("option") and before is not None:
        options = before.data.get("needs_choice", {}).get("options", [])
        n = int(expect["option"])
        if len(options) >= n and options[n - 1].get("context"):
            ctx = options[n - 1]["context"]
            want_record = f"{ctx['object_type']}:{ctx['object_id']}"
        elif len(options) >= n:
            want_record = None
        else:
            checks["options_offered"] = False
    if want_record is not None:
        checks["record"] = record == want_record
    if expect.get("method"):
        checks["method"] = method == expect["method"]
    if expect.get("not_method"):
        checks["method"] = method != expect["not_method"]
    for key, value in (expect.get("same_input") or {}).items():
        checks[f"input.{key}"] = kept.get(key) == value
    return {
        "id": case["id"],
        "ok": all(checks.values()),
        "checks": checks,
        "skill": last.skill,
        "record": record,
        "method": method,
    }


def run_suite(runtime: Runtime) -> dict[str, Any]:
    """Harness entry (``crm-copilot eval run --suite conversation``)."""
    rows = [run_case(runtime, case) for case in load_cases()]

    def rate(key: str) -> float:
        judged = [r["checks"][key] for r in rows if key in r["checks"]]
        return round(sum(judged) / len(judged), 4) if judged else 1.0

    metrics = {
        "cases": float(len(rows)),
        "case_accuracy": round(sum(r["ok"] for r in rows) / len(rows), 4) if rows else 0.0,
        "skill_accuracy": rate("skill"),
        "record_accuracy": rate("record"),
        "method_accuracy": rate("method"),
    }
    return {"metrics": metrics, "gates": GATES, "cases": [r for r in rows if not r["ok"]]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", default=None, help="the demo data directory (default: settings)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)

    from copilot.core.settings import Settings
    from copilot.service.runtime import Runtime

    settings = Settings(data_dir=Path(args.data_dir)) if args.data_dir else Settings()
    runtime = Runtime(settings)
    out = run_suite(runtime)
    print(json.dumps(out, ensure_ascii=False, indent=2))
    if args.json:
        args.json.write_text(json.dumps(out, ensure_ascii=False, indent=2), encoding="utf-8")
    failed = [k for k, g in GATES.items() if out["metrics"][k] < g["min"]]
    runtime.close()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
