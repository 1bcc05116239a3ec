"""Find the record a question names when no page is open: "浦江焊接那个单子到哪个阶段了" → the deal.

Customers are matched by name through ``ctx.records`` (only what the asker may read): the full name, or
its short form without the legal-form suffix and a leading city or province ("上海浦江焊接自动化有限公司" →
"浦江焊接自动化"). A question shares a run of characters with the short name — long enough, or at its
start ("德丰"). The longest run wins; a tie is ambiguous and nothing is guessed. When the question is about
a deal (deal words, or topics only a deal answers) and the customer has one deal that fits (its product
named in the question, else its only open deal), that deal is the record.

Rules are data in ``record_qa_topics.yaml`` (``name_match``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from copilot.crm.models import Account, Opportunity
from copilot.crm.repository import Records

OPEN_STAGES = ("线索验证", "需求确认", "方案报价", "商务谈判")


@dataclass(frozen=True)
class Named:
    object_type: str  # "account" | "opportunity"
    object_id: int
    name: str


@dataclass(frozen=True)
class Lookup:
    found: Named | None
    ambiguous: tuple[str, ...] = ()  # names that matched equally well (nothing chosen)


def short_name(name: str, city: str | None, rules: dict[str, Any]) -> str:
    core = name
    for suffix in rules.get("strip_suffixes", []):
        if core.endswith(suffix):
            core = core[: -len(suffix)]
            break
    for prefix in [*(c for c in (f"{city}市", city) if c), *rules.get("strip_prefixes", [])]:
        if prefix and core.startswith(prefix) and len(core) > len(prefix) + 1:
            core = core[len(prefix) :]
            break
    return core


def _run_at(question: str, core: str) -> tuple[int, bool]:
    """The longest run of ``core`` found in ``question``, and whether it starts at the core's start."""
    best, at_start = 0, False
    for i in range(len(core)):
        for j in range(len(core), i + best, -1):
            if core[i:j] in question:
                if j - i > best:
                    best, at_start = j - i, i == 0
                break
    return best, at_start


def _score(question: str, name: str, city: str | None, rules: dict[str, Any]) -> int:
    if name in question:
        return len(name) + 100  # the full name beats any part of another
    core = short_name(name, city, rules)
    run, at_start = _run_at(question, core)
    if run >= int(rules.get("min_chars", 3)) or (at_start and run >= int(rules.get("min_chars_at_start", 2))):
        return run
    return 0


def find_account(records: Records, question: str, rules: dict[str, Any]) -> Lookup:
    # Whole rows, FLS-masked: a name or city the asker may not see is simply absent (never a 403).
    rows = [records.masked("account", a) for a in records.list("account", order_by=Account.id)]
    scored = sorted(
        (
            (_score(question, str(r["name"]), r.get("city"), rules), int(r["id"]), str(r["name"]))
            for r in rows
            if r.get("name")
        ),
        reverse=True,
    )
    scored = [s for s in scored if s[0] > 0]
    if not scored:
        return Lookup(None)
    top = [s for s in scored if s[0] == scored[0][0]]
    if len(top) > 1:
        return Lookup(None, tuple(sorted(s[2] for s in top)))
    return Lookup(Named("account", top[0][1], top[0][2]))


def _deal_of(records: Records, account_id: int, question: str) -> Named | None:
    masked = [
        records.masked("opportunity", o)
        for o in records.list("opportunity", Opportunity.account_id == account_id, order_by=Opportunity.id)
    ]
    deals = [(int(d["id"]), str(d.get("name") or ""), d.get("stage")) for d in masked]
    low = question.lower()

    def named_in_question(name: str) -> int:
        # Product codes and quantities in the deal name ("LC-3015", "2台", "3年") that the question repeats.
        words = re.findall(r"[A-Za-z][A-Za-z0-9-]*|\d+\s*(?:台|年)", name)
        return sum(1 for w in words if w.lower() in low)

    hits = [(named_in_question(str(n)), int(i), str(n), s) for i, n, s in deals]
    best = max((h[0] for h in hits), default=0)
    if best > 0:
        chosen = [h for h in hits if h[0] == best]
        open_ones = [h for h in chosen if h[3] in OPEN_STAGES]
        chosen = open_ones or chosen
        return Named("opportunity", chosen[0][1], chosen[0][2]) if len(chosen) == 1 else None
    open_deals = [h for h in hits if h[3] in OPEN_STAGES]
    return Named("opportunity", open_deals[0][1], open_deals[0][2]) if len(open_deals) == 1 else None


def find_named(records: Records, question: str, topics: list[str], rules: dict[str, Any]) -> Lookup:
    """The record the question names (an account, or one of its deals), or why none was chosen."""
    account = find_account(records, question, rules)
    if account.found is None:
        return account
    low = question.lower()
    about_deal = any(w.lower() in low for w in rules.get("deal_words", [])) or any(
        t in rules.get("deal_topics", []) for t in topics
    )
    if about_deal:
        deal = _deal_of(records, account.found.object_id, question)
        if deal is not None:
            return Lookup(deal)
    return account
