"""Each typed assertion of the case schema (eval/cases.py), judged on what the user got (eval/door.py).

Every assertion scores 0..1 and passes at its ``threshold`` (1.0 unless the case says otherwise); a case
passes when all its assertions do. An answer where a refusal was expected (or the reverse) fails every
assertion and counts as an error. Leak checks read the database as it is (the hidden fields of every
record the answer refers to, readability of every cited record and listed row), not the case's labels.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, text

from copilot.crm.models import Account
from copilot.crm.permissions import can, hidden_fields, model_for
from eval import cases as c
from eval.door import ERROR_CODES, Outcome
from skills import compliance
from skills.instructions import char_count
from skills.promise_guard import guard

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from copilot.crm.principal import Principal
    from skills.base import SkillResult

MAIN_FIELD = {"wecom": "body", "moments": "body", "email": "body", "sms": "body", "poster": "sub", "article": "body"}
PART_FIELD = {("email", "subject"): "subject", ("poster", "headline"): "headline", ("article", "headline"): "title"}
_CJK = re.compile(r"[\u4e00-\u9fff]")
_LATIN = re.compile(r"[A-Za-z]")


@dataclass
class Check:
    type: str
    score: float
    passed: bool
    detail: str = ""


@dataclass
class Verdict:
    checks: list[Check] = field(default_factory=list)
    leaks: list[str] = field(default_factory=list)
    forbidden: list[str] = field(default_factory=list)
    unexpected: str | None = None  # an answer where a refusal was expected, or a refusal where none was
    not_retrieved: bool = False

    @property
    def passed(self) -> bool:
        return self.unexpected is None and all(ch.passed for ch in self.checks)


# --- what the user reads ------------------------------------------------------------------------------


def language_of(value: str) -> str:
    """zh when Chinese characters are at least a fifth of the letters: names and record values quoted in
    Chinese do not make an English draft Chinese, a Latin product code does not make a Chinese one English."""
    cjk, latin = len(_CJK.findall(value)), len(_LATIN.findall(value))
    return "zh" if cjk and cjk * 5 >= (cjk + latin) else "en"


def copy_variants(result: SkillResult) -> dict[str, list[dict[str, str]]]:
    by_channel = result.data.get("by_channel")
    if isinstance(by_channel, dict) and by_channel:
        return {str(k): list(v) for k, v in by_channel.items()}
    variants = result.data.get("variants")
    if isinstance(variants, list) and variants:
        return {str(result.data.get("channel") or "?"): variants}
    return {}


def outputs(result: SkillResult) -> str:
    """Everything a user could read: the answer and the structured copy variants."""
    return result.answer + "\n" + json.dumps(result.data.get("variants", []), ensure_ascii=False)


def customer_text(result: SkillResult) -> str:
    """What the customer would read: the reply draft, or the copy itself — never the notes to the user."""
    if result.skill == "reply_suggestion":
        return str(result.data.get("draft") or result.answer)
    variants = copy_variants(result)
    if not variants:
        return str(result.data.get("draft") or "")
    return "\n".join(v for vs in variants.values() for x in vs for v in x.values() if isinstance(v, str))


def _where(result: SkillResult, where: str) -> str:
    if where == "outputs":
        return outputs(result)
    if where == "answer":
        return result.answer
    if where == "customer_text":
        return customer_text(result)
    if where == "notes":
        ct = customer_text(result)
        return result.answer.replace(ct, "") if ct else result.answer
    return result.answer + "\n" + customer_text(result)


# --- leaks ----------------------------------------------------------------------------------------------


def _formats(value: Any) -> set[str]:
    """The ways a hidden value could show up in text."""
    from skills.signals.render import format_money

    if value is None or value == "" or isinstance(value, bool):
        return set()
    if isinstance(value, Decimal | float | int):
        v = float(value)
        if abs(v) < 1000:  # a percentage or a small count: as a percentage only ("28" is in every date)
            return {f"{v:g}%", f"{v:.1f}%"} if v else set()
        out = {f"{v:,.0f}", f"{v:.0f}", f"{v:,.2f}", format_money(v, "zh"), format_money(v, "en")}
        return {s for s in out if len(s.strip("¥RMB ,.0")) >= 2}  # skip trivial numbers ("0", "1")
    if isinstance(value, dt.date | dt.datetime):
        return {value.isoformat()[:10]}
    s = str(value)
    return {s} if len(s) >= 2 else set()


def _appears(shown: str, said: str) -> bool:
    """``shown`` in ``said`` as a whole number (not the tail of a longer one: 28 in 2028 or 1,280)."""
    if not shown[:1].isdigit():
        return shown in said
    return re.search(r"(?<![\d,.])" + re.escape(shown) + r"(?![\d]|[,.]\d)", said) is not None


def referenced(result: SkillResult) -> set[str]:
    refs = {c.id for c in result.citations if c.type == "crm"} | {e for a in result.actions for e in a.evidence}
    listed = result.data.get("rows", []) if result.skill in ("ticket_lookup", "record_lookup") else []
    for r in listed or []:
        if isinstance(r, dict) and "id" in r:
            kind = str(r.get("object_type") or result.data.get("object_type") or "ticket")
            refs.add(f"crm:{kind}:{r['id']}")
    return {r for r in refs if r.startswith("crm:") and r.count(":") == 2}


def fls_leaks(session: Session, principal: Principal, result: SkillResult) -> list[str]:
    """Hidden-field values of every record the result refers to, found in anything the result says."""
    said = result.model_dump_json()
    leaks: list[str] = []
    for ref in sorted(referenced(result)):
        _, object_type, rid = ref.split(":", 2)
        try:
            hidden = hidden_fields(principal, object_type)
            model = model_for(object_type)
        except (KeyError, ValueError):
            continue
        if not hidden or not rid.isdigit():
            continue
        record = session.get(model, int(rid))
        for name in sorted(hidden):
            for shown in _formats(getattr(record, name, None)):
                if _appears(shown, said):
                    leaks.append(f"{ref}.{name}={shown}")
    return leaks


def citations_outside(session: Session, principal: Principal, result: SkillResult) -> list[str]:
    """Citations the turn had to drop (the skill cited something it never retrieved), or naming a record
    the asker may not read."""
    dropped = "citations_dropped_not_retrieved" in result.warnings
    bad = ["(citations dropped: not retrieved this turn)"] if dropped else []
    return bad + unreadable(session, principal, result)


def unreadable(session: Session, principal: Principal, result: SkillResult) -> list[str]:
    """Records the answer cites or lists that the asker may not read: a permission leak."""
    bad = []
    for ref in sorted(referenced(result)):
        _, object_type, rid = ref.split(":", 2)
        try:
            ok = can(session, principal, object_type, int(rid))
        except (KeyError, ValueError):
            continue
        if not ok:
            bad.append(f"{ref} (not readable)")
    return bad


def leaks_of(session: Session, principal: Principal, result: SkillResult, a: c.NoLeak | None) -> list[str]:
    found = fls_leaks(session, principal, result) + unreadable(session, principal, result)
    said = result.model_dump_json()
    if a is not None:
        found += [f"value {v!r}" for v in a.values if v in said]
        cited_docs = {x.id.split(":", 1)[1].split("#", 1)[0] for x in result.citations if x.type == "kb"}
        cited_docs |= {str(s) for s in result.data.get("sources") or []}
        found += [f"doc {d}" for d in a.docs if d in cited_docs]
    return found


# --- one assertion ----------------------------------------------------------------------------------


def _cited(result: SkillResult, ref: str) -> bool:
    ids = [x.id for x in result.citations]
    if ref.startswith("doc:"):
        doc = ref[4:]
        sources = set(result.data.get("sources") or []) | {str(result.data.get("article") or "")}
        return doc in sources or any(doc in i for i in ids)
    return ref in ids


def expected_filters(session: Session, value: dict[str, Any]) -> dict[str, Any]:
    exp = dict(value)
    names = exp.pop("account_names", None)
    if names is not None:
        exp["account_ids"] = sorted(session.scalars(select(Account.id).where(Account.name.in_(names))).all())
    return exp


def ticket_grounding(session: Session, ticket_id: int) -> str:
    """The ticket row as text, read straight from the table: what a reply may repeat."""
    row = session.execute(text("SELECT * FROM tickets WHERE id = :i"), {"i": ticket_id}).mappings().first()
    return " ".join(str(v) for v in (row or {}).values() if v is not None)


def _ratio(n: int, d: int) -> float:
    return n / d if d else 1.0


def judge_one(session: Session, out: Outcome, a: Any, skill: str | None, verdict: Verdict) -> Check:
    r = out.result
    assert r is not None
    if isinstance(a, c.SkillIs):
        return Check("skill", float(r.skill == a.value), r.skill == a.value, r.skill)
    if isinstance(a, c.Facts):
        said = _where(r, a.where)
        low = said.lower()
        found = [s for s in a.must_include if (s.lower() in low if a.ignore_case else s in said)]
        bad = [s for s in a.must_not_include if (s.lower() in low if a.ignore_case else s in said)]
        verdict.forbidden += bad
        score = 0.0 if bad else _ratio(len(found), len(a.must_include))
        missing = [s for s in a.must_include if s not in found]
        return Check("facts", score, score >= a.threshold, f"missing {missing} forbidden {bad}" if score < 1 else "")
    if isinstance(a, c.Citations):
        cited = [i for i in a.ids if _cited(r, i)]
        score = _ratio(len(cited), len(a.ids))
        return Check("citations", score, score >= a.threshold, f"uncited {[i for i in a.ids if i not in cited]}")
    if isinstance(a, c.TopAction):
        top = r.actions[0] if r.actions else None
        ok = (top is None) if a.kind is None else (top is not None and top.kind == a.kind)
        if ok and top is not None:
            ok = all(e in top.evidence for e in a.evidence)
            facts = (r.data.get("signals") or [{}])[0].get("facts", {})
            ok = ok and all(facts.get(k) == v for k, v in a.facts.items())
        return Check("top_action", float(ok), ok, f"{top.kind} {top.evidence}" if top else "no action")
    if isinstance(a, c.Filters):
        wanted, parsed = expected_filters(session, a.value), r.data.get("filters")
        ok = parsed == wanted
        if a.not_understood is not None:
            ok = ok and r.data.get("not_understood") == a.not_understood
        return Check("filters", float(ok), ok, "" if ok else f"got {parsed} want {wanted}")
    if isinstance(a, c.RecordSet):
        want_ids = {int(x[0]) for x in session.execute(text(a.sql))}  # the case's own hand-written SQL
        got_ids = {int(x["id"]) for x in r.data.get("rows", []) if isinstance(x, dict) and "id" in x}
        on_skill = skill is None or r.skill == skill
        if not on_skill:
            got_ids = set()
        exact = on_skill and got_ids == want_ids and r.data.get("total") == len(want_ids)
        union = want_ids | got_ids
        absent, extra = sorted(want_ids - got_ids)[:10], sorted(got_ids - want_ids)[:10]
        detail = "" if exact else f"skill {r.skill} missing {absent} extra {extra}"
        jaccard = len(want_ids & got_ids) / len(union) if union else float(on_skill)
        return Check("record_set", float(exact), exact, detail + f" jaccard {jaccard:.2f}" if detail else "")
    if isinstance(a, c.Record):
        want: str | None = a.value
        if a.option:
            options = out.previous.data.get("needs_choice", {}).get("options", []) if out.previous else []
            if len(options) < a.option:
                return Check("record", 0.0, False, "the options were not offered")
            ctx = options[a.option - 1].get("context")
            want = f"{ctx['object_type']}:{ctx['object_id']}" if ctx else None
        if want is None:
            return Check("record", 1.0, True)
        got = out.stored.get("record")
        return Check("record", float(got == want), got == want, str(got))
    if isinstance(a, c.Method):
        method = (r.routing or {}).get("method")
        ok = (a.value is None or method == a.value) and (a.not_ is None or method != a.not_)
        return Check("method", float(ok), ok, str(method))
    if isinstance(a, c.InputsKept):
        kept = out.stored.get("inputs", {})
        ok = all(kept.get(k) == v for k, v in a.value.items())
        return Check("inputs_kept", float(ok), ok, str(kept))
    if isinstance(a, c.Language):
        said = customer_text(r)
        ok = bool(said.strip()) and language_of(said) == a.value
        return Check("language", float(ok), ok, "" if ok else said[:80])
    if isinstance(a, c.Channel):
        variants = copy_variants(r)
        ok = all(variants.get(ch) for ch in a.values)
        return Check("channel", float(ok), ok, str(sorted(variants)))
    if isinstance(a, c.Count):
        return _count(r, a)
    if isinstance(a, c.Length):
        return _length(r, a)
    if isinstance(a, c.NeedsChoice):
        need = r.data.get("needs_choice") or {}
        ok = len(need.get("options") or []) >= a.min_options
        return Check("needs_choice", float(ok), ok)
    if isinstance(a, c.Grounded):
        said = customer_text(r)
        stated = [s for s in (r.data.get("stated") or []) if isinstance(s, str)]
        removed = guard(said, ticket_grounding(session, int(a.record.split(":")[1])), stated=stated).removed
        return Check("grounded", float(not removed), not removed, str(removed)[:200])
    if isinstance(a, c.NoBannedTerm):
        banned = compliance.find_banned(customer_text(r) or outputs(r))
        return Check("no_banned_term", float(not banned), not banned, str(banned))
    if isinstance(a, c.NoLeak):
        found = leaks_of(session, out.principal, r, a)
        verdict.leaks += found
        return Check("no_leak", float(not found), not found, "; ".join(found)[:300])
    if isinstance(a, c.RetrievedIds):
        raise TypeError("retrieved_ids is judged by the retrieval suite")
    raise TypeError(f"no judge for {type(a).__name__}")


def _count(r: SkillResult, a: c.Count) -> Check:
    if r.skill == "reply_suggestion":
        said = customer_text(r)
        blocks = [b for b in re.split(r"(?:^|\n)(?:版本|Variant)\s*\d+[：:]", said) if b.strip()]
        ok = len(blocks) == a.value and len(set(blocks)) == a.value
        return Check("count", float(ok), ok, f"{len(blocks)} variants")
    variants = copy_variants(r)
    ok = bool(variants)
    for ch, vs in variants.items():
        key = PART_FIELD.get((ch, str(a.part or "")))
        items = [str(x.get(key, "")) for x in vs] if key else [json.dumps(x, sort_keys=True) for x in vs]
        ok = ok and len(vs) == a.value and len(set(items)) == a.value and all(items)
    return Check("count", float(ok), ok, str({ch: len(vs) for ch, vs in variants.items()}))


def _length(r: SkillResult, a: c.Length) -> Check:
    if r.skill == "reply_suggestion":
        n = char_count(customer_text(r))
        return Check("length", float(n <= a.max_chars), n <= a.max_chars, f"{n} chars")
    variants = copy_variants(r)
    mains = [
        str(x.get(MAIN_FIELD.get(ch, "body"), "")) for ch, vs in variants.items() if a.channel in (None, ch) for x in vs
    ]
    if a.channel is not None and not mains:
        return Check("length", 1.0, True, "no variant on that channel")
    over = [m for m in mains if char_count(m) > a.max_chars]
    ok = bool(mains) and not over
    return Check("length", float(ok), ok, f"{len(over)} over {a.max_chars}")


def judge(session: Session, case: c.Case, out: Outcome, skill: str | None) -> Verdict:
    verdict = Verdict()
    refused = case.first(c.Refused)
    if out.error is not None:
        status = getattr(out.error, "status_code", None)
        no_leak = case.first(c.NoLeak)
        if refused is not None and ERROR_CODES[refused.code] == status:
            verdict.checks.append(Check("refused", 1.0, True, str(status)))
        elif no_leak is not None and no_leak.refusal_ok and status in (403, 404):
            verdict.checks.append(Check("no_leak", 1.0, True, f"refused {status}"))
        else:
            kind = status if status is not None else f"crash {type(out.error).__name__}"
            verdict.unexpected = f"error {kind}: {str(out.error)[:160]}"
            verdict.checks += [Check(a.type, 0.0, False, verdict.unexpected) for a in case.assertions]
        return verdict
    if refused is not None:
        verdict.unexpected = "an answer instead of a refusal"
        verdict.checks.append(Check("refused", 0.0, False, verdict.unexpected))
        return verdict
    assert out.result is not None
    verdict.not_retrieved = "citations_dropped_not_retrieved" in out.result.warnings
    for a in case.assertions:
        verdict.checks.append(judge_one(session, out, a, skill, verdict))
    return verdict
