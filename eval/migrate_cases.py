"""Convert evaluation datasets written in the old dialects into the one case schema (eval/cases.py).

    python -m eval.migrate_cases FILE...            # rewrite each file in place (converted files are left alone)
    python -m eval.migrate_cases --check FILE...    # convert in memory, validate, write nothing (exit 1 on a problem)
    python -m eval.migrate_cases --stdout FILE      # print the converted file
    options: --advisory (report the set's metrics, no gate), --suite NAME, --skill NAME

The dialect is read from the file's keys (and, for the skill, its ``skill:`` key or its name,
``<skill>[_suffix].yaml``):

==================  ==========================================================  ====================
old keys             dialect                                                     suite
==================  ==========================================================  ====================
``items:``           router utterances (text, object_type, role, expected)       router
``questions:``       retrieval (lang, question, relevant, asker, holdout)        retrieval
``turns`` + dict     conversation (turns of {as, message, context, input, skill}  conversation
``expect:``          and expect {skill, record, method, option, same_input, ...})
``checks:``          instruction following (language, channels, count, ...)     instructions
``sql:``             lookups: the exact record set of a hand-written query       the skill
``expected_filters`` ticket_lookup's parsed filters                              ticket_lookup
``expected_kind``    next_best_action's top action                               next_best_action
``expect/cite/...``  skill cases (expect, cite, forbid, fls, error)              the skill
==================  ==========================================================  ====================

Comments at the top of the old file are kept (as the converted file's leading comment); ``why`` becomes
``description``. Gates follow what the old code enforced for that dialect; ``--advisory`` drops them
(new sets measuring held-out phrasings should report before they gate).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from eval.cases import SCHEMA, CaseError, dump_dataset, load_dataset, read_yaml

SKILLS = (
    "next_best_action",
    "ticket_lookup",
    "record_lookup",
    "record_qa",
    "troubleshoot",
    "reply_suggestion",
    "marketing_copy",
)
ZERO = {"leaks": {"max": 0}, "errors": {"max": 0}}
SKILL_GATES = {
    "facts": {"min": 0.9},
    "citations": {"min": 0.9},
    "ragas.id_context_recall": {"min": 0.9},
    "ragas.string_presence": {"min": 0.9},
    "no_banned_term": {"min": 1.0},
    "length": {"min": 1.0},
    "citations_not_retrieved": {"max": 0},
} | ZERO
ERROR_CODES = ("forbidden", "not_found", "bad_request", "unprocessable")


def skill_of(path: Path, raw: dict[str, Any]) -> str | None:
    if raw.get("skill"):
        return str(raw["skill"])
    stem = path.stem
    for skill in sorted(SKILLS, key=len, reverse=True):
        if stem == skill or stem.startswith(skill + "_"):
            return skill
    return None


def _clean(d: dict[str, Any]) -> dict[str, Any]:
    """Drop empty values: the converted case says only what the old one said."""
    return {k: v for k, v in d.items() if v not in (None, [], {}, "")}


def _vars(c: dict[str, Any], message_key: str = "message") -> dict[str, Any]:
    return _clean(
        {
            "persona": c.get("as"),
            "page": c.get("context"),
            "message": str(c.get(message_key) or ""),
            "inputs": c.get("input") or {},
            "locale": c.get("locale"),
            "lang": c.get("lang"),
        }
    )


def _base(c: dict[str, Any], v: dict[str, Any], asserts: list[dict[str, Any]]) -> dict[str, Any]:
    return _clean({"id": str(c["id"]), "description": c.get("why"), "vars": v, "assert": asserts})


def _refusal(c: dict[str, Any]) -> list[dict[str, Any]]:
    code = c.get("error")
    if code is None:
        return []
    if code not in ERROR_CODES:
        raise CaseError(f"case {c.get('id')!r}: unknown error {code!r} (one of {', '.join(ERROR_CODES)})")
    return [{"type": "refused", "code": code}]


def convert_skill_case(c: dict[str, Any], skill: str) -> dict[str, Any]:
    asserts = _refusal(c)
    if not asserts:
        facts = _clean(
            {
                "type": "facts",
                "must_include": [str(s) for s in c.get("expect") or []],
                "must_not_include": [str(s) for s in c.get("forbid") or []],
            }
        )
        if len(facts) > 1:
            asserts.append(facts)
        if c.get("cite"):
            asserts.append({"type": "citations", "ids": [str(s) for s in c["cite"]]})
        if skill == "marketing_copy":
            asserts.append({"type": "no_banned_term"})
            if (c.get("input") or {}).get("channel") == "sms":
                asserts.append({"type": "length", "max_chars": 70, "channel": "sms"})
        asserts.append(_clean({"type": "no_leak", "values": [str(s) for s in c.get("fls") or []]}))
    return _base(c, _vars(c), asserts)


def convert_nba_case(c: dict[str, Any]) -> dict[str, Any]:
    asserts = _refusal(c)
    if not asserts:
        asserts.append(
            _clean(
                {
                    "type": "top_action",
                    "kind": c.get("expected_kind"),
                    "evidence": c.get("cite") or [],
                    "facts": c.get("expected_facts") or {},
                }
            )
            | {"kind": c.get("expected_kind")}
        )
        asserts.append({"type": "no_leak"})
    return _base(c, _vars(c), asserts)


def convert_filters_case(c: dict[str, Any]) -> dict[str, Any]:
    a = {"type": "filters", "value": c.get("expected_filters") or {}}
    if "expected_not_understood" in c:
        a["not_understood"] = c["expected_not_understood"]
    return _base(c, _vars(c), [a, {"type": "no_leak"}])


def convert_lookup_case(c: dict[str, Any]) -> dict[str, Any]:
    a = _clean({"type": "record_set", "sql": c["sql"], "object_type": c.get("object_type")})
    return _base(c, _vars(c), [a, {"type": "no_leak"}])


def convert_instruction_case(c: dict[str, Any], skill: str) -> dict[str, Any]:
    checks = dict(c.get("checks") or {})
    turns = list(c.get("turns") or [])
    v = _vars(c)
    if turns:  # the skill and the page go with the first message; the last one is the case's own
        v["conversation"] = [_clean({"message": str(t), "skill": skill, "page": c.get("context")}) for t in turns[:1]]
        v["conversation"] += [{"message": str(t)} for t in turns[1:-1]]
        v["message"] = str(turns[-1])
        v.pop("page", None)
    asserts: list[dict[str, Any]] = []
    if "skill" in checks:
        asserts.append({"type": "skill", "value": checks.pop("skill")})
    if "needs_choice" in checks:
        asserts.append({"type": "needs_choice", "min_options": int(checks.pop("needs_choice"))})
        return _base(c, v, asserts)
    if "language" in checks:
        asserts.append({"type": "language", "value": checks.pop("language")})
    if "channels" in checks:
        asserts.append({"type": "channel", "values": checks.pop("channels")})
    if "count" in checks:
        asserts.append(_clean({"type": "count", "value": int(checks.pop("count")), "part": checks.pop("part", None)}))
    if "max_chars" in checks:
        asserts.append({"type": "length", "max_chars": int(checks.pop("max_chars"))})
    if "stated" in checks:
        asserts.append(
            {"type": "facts", "must_include": checks.pop("stated"), "where": "customer_text", "ignore_case": True}
        )
    if "expect" in checks:
        asserts.append({"type": "facts", "must_include": checks.pop("expect"), "where": "answer_or_customer_text"})
    for key in ("forbid", "forbid_copy"):
        if key in checks:
            asserts.append({"type": "facts", "must_not_include": checks.pop(key), "where": "customer_text"})
    if "note" in checks:
        asserts.append({"type": "facts", "must_include": checks.pop("note"), "where": "notes"})
    if checks.pop("grounded", False) and str(c.get("context", "")).startswith("ticket:"):
        asserts.append({"type": "grounded", "record": c["context"]})
    if skill == "marketing_copy":
        asserts.append({"type": "no_banned_term"})
    if checks:
        raise CaseError(f"case {c.get('id')!r}: unknown checks {sorted(checks)}")
    asserts.append({"type": "no_leak"})
    return _base(c, v, asserts)


def convert_conversation_case(c: dict[str, Any]) -> dict[str, Any]:
    turns = list(c["turns"])
    persona = turns[0].get("as")
    last = turns[-1]

    def turn(t: dict[str, Any]) -> dict[str, Any]:
        extra = set(t) - {"as", "message", "context", "input", "skill"}
        if extra:
            raise CaseError(f"case {c.get('id')!r}: unknown turn keys {sorted(extra)} (an unquoted comma?)")
        return _clean(
            {
                "message": str(t["message"]),
                "page": t.get("context"),
                "inputs": t.get("input") or {},
                "skill": t.get("skill"),
            }
        )

    turn(last)  # its keys are checked like the others'
    v = _clean(
        {
            "persona": persona,
            "conversation": [turn(t) for t in turns[:-1]],
            "message": str(last["message"]),
            "page": last.get("context"),
            "inputs": last.get("input") or {},
        }
    )
    expect = dict(c["expect"])
    asserts: list[dict[str, Any]] = [{"type": "skill", "value": expect.pop("skill")}]
    if "record" in expect or "option" in expect:
        asserts.append(
            _clean({"type": "record", "value": expect.pop("record", None), "option": expect.pop("option", None)})
        )
    if "method" in expect or "not_method" in expect:
        asserts.append(
            _clean({"type": "method", "value": expect.pop("method", None), "not": expect.pop("not_method", None)})
        )
    if "same_input" in expect:
        asserts.append({"type": "inputs_kept", "value": expect.pop("same_input")})
    if expect:
        raise CaseError(f"case {c.get('id')!r}: unknown expect keys {sorted(expect)}")
    if last.get("skill"):
        raise CaseError(f"case {c.get('id')!r}: the judged turn names a skill; it must be routed")
    return _base(c, v, [*asserts, {"type": "no_leak"}])


def convert_router_item(item: dict[str, Any], n: int, stem: str) -> dict[str, Any]:
    extra = set(item) - {"text", "object_type", "role", "expected"}
    if extra:
        raise CaseError(f"router item {n}: unknown keys {sorted(extra)}")
    v = _clean({"role": item.get("role"), "page": item.get("object_type"), "message": str(item["text"])})
    return {"id": f"{stem}-{n:03d}", "vars": v, "assert": [{"type": "skill", "value": item["expected"]}]}


def convert_question(q: dict[str, Any]) -> dict[str, Any]:
    v = {"persona": q["asker"], "message": str(q["question"]), "lang": q["lang"]}
    relevant = {"type": "retrieved_ids", "ids": list(q["relevant"]), "k": 5}
    case: dict[str, Any] = {"id": str(q["id"]), "vars": v, "assert": [relevant]}
    extra = set(q) - {"id", "lang", "question", "relevant", "asker", "holdout"}
    if extra:
        raise CaseError(f"question {q.get('id')!r}: unknown keys {sorted(extra)}")
    if q.get("holdout"):  # kept out of tuning, reported on its own
        case["holdout"] = True
    return case


def convert(
    path: Path, raw: dict[str, Any], *, advisory: bool = False, suite: str | None = None, skill: str | None = None
) -> dict[str, Any]:
    """The old file's data as a dataset of the new schema (not yet validated)."""
    skill = skill or skill_of(path, raw)
    header: dict[str, Any] = {"schema": SCHEMA}
    if "items" in raw:
        header |= {"suite": "router", "gates": {"accuracy": {"min": 0.92}}}
        if not path.stem.endswith("_users") and path.stem == "router":
            header["gates"]["heldout_accuracy"] = {"min": 0.92}
        elif path.stem != "router":
            header["gates"] = {"accuracy": {"min": 0.85}}
        cases = [convert_router_item(it, i + 1, path.stem) for i, it in enumerate(raw["items"])]
    elif "questions" in raw:
        header |= {
            "suite": "retrieval",
            "gates": {"zh.hit@5": {"min": 0.95}, "en.hit@5": {"min": 0.85}, "mixed.hit@5": {"min": 0.85}},
        }
        cases = [convert_question(q) for q in raw["questions"]]
    else:
        old = list(raw.get("cases") or [])
        keys = {k for c in old for k in c}
        if "turns" in keys and any(isinstance(c.get("expect"), dict) for c in old):
            header |= {
                "suite": "conversation",
                "gates": {"skill": {"min": 0.9}, "record": {"min": 0.9}, "method": {"min": 0.9}} | ZERO,
            }
            cases = [convert_conversation_case(c) for c in old]
        elif "checks" in keys:
            if not skill:
                raise CaseError(f"{path}: instruction cases need a skill (`skill:` or the file name)")
            header |= {"suite": "instructions", "skill": skill, "advisory": True}
            cases = [convert_instruction_case(c, skill) for c in old]
        elif "sql" in keys:
            if not skill:
                raise CaseError(f"{path}: lookup cases need a skill (`skill:` or the file name)")
            header |= {
                "suite": skill,
                "skill": skill,
                "runs": ["named", "routed"],
                "gates": {"record_set": {"min": 0.9}, "routed.record_set": {"min": 0.85}} | ZERO,
            }
            cases = [convert_lookup_case(c) for c in old]
        elif "expected_filters" in keys:
            header |= {"suite": "ticket_lookup", "skill": "ticket_lookup", "gates": {"filters": {"min": 0.9}} | ZERO}
            cases = [convert_filters_case(c) for c in old]
        elif "expected_kind" in keys or skill == "next_best_action":
            gates: dict[str, Any] = dict(ZERO)
            if path.stem.endswith("_users"):
                gates["top_action"] = {"min": 0.8}
            header |= {"suite": "next_best_action", "skill": "next_best_action", "gates": gates}
            cases = [convert_nba_case(c) for c in old]
        else:
            if not skill:
                raise CaseError(f"{path}: cannot tell which skill these cases are for (add `skill:` or use --skill)")
            header |= {"suite": skill, "skill": skill, "gates": dict(SKILL_GATES)}
            cases = [convert_skill_case(c, skill) for c in old]
    if suite:
        header["suite"] = suite
    if advisory:
        header["advisory"] = True
        header.pop("gates", None)
    return header | {"cases": cases}


def leading_comment(text: str) -> str:
    lines = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        lines.append(line)
    return "\n".join(lines) + ("\n" if lines else "")


def migrate(path: Path, *, advisory: bool = False, suite: str | None = None, skill: str | None = None) -> str | None:
    """The converted file's text, or None when it is in the new schema already (it must then load)."""
    raw = read_yaml(path)
    if isinstance(raw, dict) and raw.get("schema") == SCHEMA:
        load_dataset(path)
        return None
    if not isinstance(raw, dict):
        raise CaseError(f"{path}: not a mapping")
    data = convert(path, raw, advisory=advisory, suite=suite, skill=skill)
    note = "# Converted to the case schema (eval/cases.py) by `python -m eval.migrate_cases`.\n"
    return leading_comment(path.read_text(encoding="utf-8")) + note + dump_dataset(data)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--check", action="store_true", help="validate the conversion; write nothing")
    parser.add_argument("--stdout", action="store_true", help="print the converted text instead of writing")
    parser.add_argument("--advisory", action="store_true", help="no gates: report the set's metrics only")
    parser.add_argument("--suite", help="the suite to run the set in (default: from the dialect)")
    parser.add_argument("--skill", help="the skill (default: the file's `skill:` or its name)")
    args = parser.parse_args(argv)
    status = 0
    for path in args.files:
        try:
            text = migrate(path, advisory=args.advisory, suite=args.suite, skill=args.skill)
        except (CaseError, KeyError, TypeError, ValueError) as exc:
            print(f"{path}: {exc}", file=sys.stderr)
            status = 1
            continue
        if text is None:
            print(f"{path}: already in {SCHEMA}")
        elif args.stdout:
            print(text)
        elif args.check:
            print(f"{path}: converts cleanly")
        else:
            path.write_text(text, encoding="utf-8")
            load_dataset(path)  # what was written loads
            print(f"{path}: converted")
    return status


if __name__ == "__main__":
    sys.exit(main())
