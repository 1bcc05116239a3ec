"""record_qa: answer a question about the page's record, or write a 360° brief before a call.

The question is mapped to topics (record_qa_topics.yaml); each topic names fields of related records.
Answer lines are built only from ``Fact.meta["fields"]`` — the FLS-masked field dict — so a field the
asker may not see cannot come back, and a topic with nothing visible is answered "the records do not
say" rather than guessed. Every line carries the id of the record fact it came from.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from copilot.crm.models import Device
from retrievers.crm_records import LABELS, TITLE_FIELD, RecordBundle, RecordRetriever, display_value, format_value
from retrievers.facts import Fact
from skills.base import PageContext, SkillContext, SkillRequest, SkillResult
from skills.compose import compose, result_from
from skills.named_record import find_named

TOPICS_FILE = Path(__file__).with_name("record_qa_topics.yaml")
TEMPLATE = "record_qa"
TEMPLATE_VERSION = "3"
MAX_LINES_PER_TOPIC = 8
MAX_LINES_IN_BRIEF = 4


@dataclass(frozen=True)
class Line:
    text: str
    fact: Fact
    derived: bool = False  # owner/assignee lines: computed, not the topic's own fields


@cache
def _config() -> dict[str, Any]:
    return yaml.safe_load(TOPICS_FILE.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def detect_topics(question: str) -> list[str]:
    """Topics in the question, longest keyword first and consumed; a brief expands to its topic list."""
    cfg = _config()
    text = question.lower()
    pairs = [(str(kw).lower(), name) for name, t in cfg["topics"].items() for kw in t["keywords"]]
    pairs += [(str(kw).lower(), "__brief__") for kw in cfg["brief"]["keywords"]]
    found: list[str] = []
    for kw, name in sorted(pairs, key=lambda p: -len(p[0])):
        # ASCII keywords match whole words, plurals included ("receivables", "tickets").
        pattern = re.escape(kw) if not kw.isascii() else rf"(?<![a-z]){re.escape(kw)}(?:s|es)?(?![a-z])"
        if re.search(pattern, text):
            text = re.sub(pattern, " ", text)
            if name not in found:
                found.append(name)
    if "__brief__" in found:
        found.remove("__brief__")
        found = [t for t in cfg["brief"]["topics"] if t not in found] + found
    for name in list(found):
        for suppressed in cfg["topics"][name].get("suppresses", []):
            if suppressed in found:
                found.remove(suppressed)
    return found


def _label(object_type: str, key: str, locale: str) -> str:
    return LABELS[object_type][key][0 if locale == "zh" else 1]


def _field_line(fact: Fact, keys: list[str], locale: str) -> str | None:
    """``label: value`` for the requested fields the fact holds; None when it holds none of them.

    The record's own name is left out (it is the line's title), and a line with nothing but the name
    is no answer: a deal without a competitor field must not show up under "competitor".
    """
    object_type = str(fact.meta.get("object_type"))
    fields = fact.meta.get("fields") or {}
    parts = []
    for key in keys:
        if key == TITLE_FIELD.get(object_type) and object_type != "activity":
            continue
        value = fields.get(key)
        if key not in LABELS.get(object_type, {}) or value is None or value == "" or value == []:
            continue
        parts.append(f"{_label(object_type, key, locale)}: {display_value(object_type, key, value, locale)}")
    if not parts:
        return None
    sep = "；" if locale == "zh" else "; "
    return sep.join(parts)


def _receivable_status(fact: Fact, on: dt.date, locale: str) -> str | None:
    """Paid / overdue / not yet due — only when both amounts are visible to the asker (FLS)."""
    f = fact.meta.get("fields") or {}
    if "amount" not in f or "paid_amount" not in f or f.get("due_date") is None:
        return None
    amount, paid = Decimal(f["amount"]), Decimal(f["paid_amount"] or 0)
    due: dt.date = f["due_date"]
    zh = locale == "zh"
    if paid >= amount:
        return "已回款" if zh else "paid"
    if due < on:
        days = (on - due).days
        outstanding = format_value(amount - paid)
        return f"逾期 {days} 天，未收 {outstanding}" if zh else f"overdue by {days} days, {outstanding} outstanding"
    return "未到期" if zh else "not yet due"


def _derived(name: str, bundle: RecordBundle, retriever: RecordRetriever, locale: str) -> list[Line]:
    zh = locale == "zh"
    main = bundle.main
    fields = main.meta.get("fields") or {}
    lines: list[Line] = []
    if name == "owner" and fields.get("owner_id") is not None and bundle.object_type != "ticket":
        who = retriever.user_name(fields["owner_id"])
        if who:
            lines.append(Line(f"{'负责人' if zh else 'Owner'}: {who}", main, derived=True))
    if name == "assignee" and bundle.object_type == "ticket":
        who = retriever.user_name(fields.get("assignee_id"))
        text = who or ("尚未指派" if zh else "not yet assigned")
        lines.append(Line(f"{'处理人' if zh else 'Assignee'}: {text}", main, derived=True))
    return lines


def _said(fact: Fact) -> str:
    """What an activity says (subject and body), lower-cased; other records say nothing."""
    if fact.meta.get("object_type") != "activity":
        return ""
    fields = fact.meta.get("fields") or {}
    return f"{fact.title} {fact.text} {fields.get('subject', '')} {fields.get('body', '')}".lower()


def _unpaid(fact: Fact) -> bool:
    """A receivable with money still owed. Needs both amounts visible; a hidden amount with no paid
    date still counts as unpaid (the asker sees the instalment, not how much)."""
    if fact.meta.get("object_type") != "receivable":
        return False
    f = fact.meta.get("fields") or {}
    if "amount" in f and "paid_amount" in f:
        return Decimal(f["amount"] or 0) > Decimal(f["paid_amount"] or 0)
    return "paid_date" in f and f.get("paid_date") is None


def _outstanding_total(facts: list[Fact], on: dt.date, locale: str) -> str | None:
    """ "合计未收 X（N 期），其中已逾期 Y（M 期）", from visible amounts only; None when any is hidden."""
    if not facts:
        return None
    owed, late, n_late = Decimal(0), Decimal(0), 0
    for fact in facts:
        f = fact.meta.get("fields") or {}
        if "amount" not in f or "paid_amount" not in f:
            return None
        left = Decimal(f["amount"] or 0) - Decimal(f["paid_amount"] or 0)
        owed += left
        due = f.get("due_date")
        if isinstance(due, dt.date) and due < on:
            late, n_late = late + left, n_late + 1
    n = len(facts)
    if locale == "zh":
        text = f"合计未收: {format_value(owed)}（{n} 期）"
        return text + (f"，其中已逾期 {format_value(late)}（{n_late} 期）" if n_late else "，均未到期")
    text = f"Total outstanding: {format_value(owed)} ({n} instalment{'s' if n > 1 else ''})"
    return text + (f", of which {format_value(late)} overdue ({n_late})" if n_late else ", none overdue yet")


def _competitor_lines(bundle: RecordBundle, locale: str) -> list[Line]:
    """Competitors named in the deal's activities (the deal's competitor field is its own line)."""
    from skills.signals import default_config

    names = dict(default_config().competitors)
    field = (bundle.main.meta.get("fields") or {}).get("competitor")
    if field and not any(str(field) in aliases for aliases in names.values()):
        names[str(field)] = [str(field)]
    lines: list[Line] = []
    seen: set[str] = set()
    for fact in bundle.facts:
        if fact.meta.get("object_type") != "activity":
            continue
        f = fact.meta.get("fields") or {}
        text = f"{f.get('subject') or ''} {f.get('body') or ''}"
        hits = [c for c, aliases in names.items() if c not in seen and any(_word_in(a, text) for a in aliases)]
        if not hits:
            continue
        seen.update(hits)
        when = f.get("occurred_at")
        day = when.date().isoformat() if isinstance(when, dt.datetime) else str(when or "")
        who = "、".join(hits) if locale == "zh" else ", ".join(hits)
        subject = f.get("subject") or ""
        if locale == "zh":
            label = f"跟进记录提到 {who}：{day}「{subject}」"
        else:
            label = f'{who} named in a follow-up: {day} "{subject}"'
        lines.append(Line(label, fact))
    return lines


def _word_in(alias: str, text: str) -> bool:
    if not alias.isascii():
        return alias in text
    return re.search(rf"(?<![A-Za-z]){re.escape(alias)}(?![A-Za-z])", text, re.IGNORECASE) is not None


# Fields that name a record rather than say something about it: repeating them is not repetition.
IDENTIFYING_FIELDS = frozenset({"name", "number", "subject", "serial", "milestone"})


def collect(
    bundle: RecordBundle, retriever: RecordRetriever, topics: list[str], ctx: SkillContext
) -> tuple[list[dict[str, Any]], list[str], list[Fact]]:
    """Sections with their lines, the topics the records do not answer, and the facts used."""
    cfg = _config()["topics"]
    locale = ctx.locale
    on = ctx.clock.today()
    limit = MAX_LINES_IN_BRIEF if len(topics) > 3 else MAX_LINES_PER_TOPIC
    sections: list[dict[str, Any]] = []
    unknown: list[str] = []
    used: list[Fact] = []
    shown_fields: set[tuple[str, str]] = set()
    for topic in topics:
        spec = cfg[topic]
        lines: list[Line] = []
        shown_now: set[tuple[str, str]] = set()
        for derived in spec.get("derived", []):
            if derived != "receivable_status":
                lines.extend(_derived(derived, bundle, retriever, locale))
        # On a page of a type the topic covers, the topic is about that record, not its neighbours
        # ("what stage is this deal in" on an opportunity must not list the account's tickets).
        candidates = [bundle.main] if bundle.object_type in spec["fields"] else bundle.facts
        if "competitor_mentions" in spec.get("derived", []) and bundle.object_type == "opportunity":
            lines.extend(_competitor_lines(bundle, locale))
        if spec.get("text_any"):
            # A topic about what was said (price feedback): only the records that talk about it.
            words = [str(w).lower() for w in spec["text_any"]]
            candidates = [f for f in candidates if any(w in _said(f) for w in words)]
        if spec.get("only_unpaid"):
            candidates = [f for f in bundle.facts if _unpaid(f)]
            total = _outstanding_total(candidates, on, locale)
            if total is not None:
                lines.append(Line(total, candidates[0], derived=True))
        for fact in candidates:
            keys = spec["fields"].get(fact.meta.get("object_type"))
            if not keys:
                continue
            text = _field_line(fact, keys, locale)
            if text is None:
                continue
            if fact.meta.get("object_type") == "receivable" and "receivable_status" in spec.get("derived", []):
                status = _receivable_status(fact, on, locale)
                if status:
                    text += ("；状态: " if locale == "zh" else "; status: ") + status
            title = fact.title if fact.meta.get("object_type") != "activity" else ""
            if title:
                text = f"{title}（{text}）" if locale == "zh" else f"{title} ({text})"
            lines.append(Line(text, fact))
            shown_now.update((fact.id, key) for key in keys if key not in IDENTIFYING_FIELDS)
        # Money owed matters more than money received: overdue and open instalments first.
        # (A topic's own summary line, such as the outstanding total, stays on top.)
        lines.sort(key=lambda ln: -1 if ln.derived else (0 if ("逾期" in ln.text or "overdue" in ln.text) else 1))
        if not lines:
            unknown.append(spec["heading"][locale])
            continue
        lines = lines[:limit]
        kept_ids = {ln.fact.id for ln in lines if not ln.derived}
        field_pairs = {pair for pair in shown_now if pair[0] in kept_ids}
        if len(topics) <= 3 and field_pairs and field_pairs <= shown_fields:
            # "这个工单…状态" on a ticket page: the tickets topic would repeat the same fields of the
            # same record. A second topic about *other* fields of that record (stage, then amount) stays.
            continue
        sections.append(
            {"heading": spec["heading"][locale], "lines": [{"id": ln.fact.id, "text": ln.text} for ln in lines]}
        )
        used.extend(ln.fact for ln in lines)
        shown_fields |= field_pairs
    return sections, unknown, used


def run(request: SkillRequest, ctx: SkillContext) -> SkillResult:
    question = str(request.input.get("question") or request.message).strip()
    topics = detect_topics(question)
    page = request.context
    found_by_name = ""
    if page is None:
        # No page open: a question naming a customer (or its deal) is about that record.
        with ctx.timed("retrieval"):
            lookup = find_named(ctx.records, question, topics, _config().get("name_match", {}))
        if lookup.found is None:
            composed = compose(
                ctx,
                TEMPLATE,
                {
                    "question": question,
                    "sections": [],
                    "unknown": [],
                    "no_record": True,
                    "ambiguous": list(lookup.ambiguous),
                },
                [],
                version=TEMPLATE_VERSION,
            )
            return result_from(
                ctx, "record_qa", composed, [], data={"topics": topics, "ambiguous": list(lookup.ambiguous)}
            )
        page = PageContext(object_type=lookup.found.object_type, object_id=lookup.found.object_id)
        found_by_name = lookup.found.name
    retriever = RecordRetriever(ctx.records, ctx.locale)
    with ctx.timed("retrieval"):
        bundle = retriever.bundle(page.object_type, page.object_id)
        if bundle.object_type == "opportunity" and "devices" in topics:
            _add_account_devices(bundle, retriever, ctx)
    sections, unknown, used = collect(bundle, retriever, topics, ctx) if topics else ([], [], [])
    variables = {
        "question": question,
        "record_title": bundle.main.title,
        "sections": sections,
        "unknown": unknown if sections else [],
        "no_record": False,
        "found_by_name": found_by_name,
        # v1 of the template reads a flat fact list; passing it keeps record_qa@1 renderable (preview).
        "facts": [{"id": f.id, "label": f.title, "text": f.text} for f in {f.id: f for f in used}.values()],
    }
    composed = compose(ctx, TEMPLATE, variables, used, version=TEMPLATE_VERSION)
    return result_from(
        ctx,
        "record_qa",
        composed,
        used,
        data={
            "topics": topics,
            "unanswered": unknown if topics else ["*"],
            "record": bundle.main.id,
            "found_by_name": bool(found_by_name),
        },
    )


def _add_account_devices(bundle: RecordBundle, retriever: RecordRetriever, ctx: SkillContext) -> None:
    """A deal's page answers "devices" with the customer's installed base (the deal's record set has none)."""
    account_id = getattr(bundle.record, "account_id", None)
    if account_id is None:
        return
    devices = ctx.records.list("device", Device.account_id == account_id, order_by=Device.id, limit=MAX_LINES_PER_TOPIC)
    bundle.related.extend(retriever.facts_for("device", devices))
