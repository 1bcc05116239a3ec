"""Plain words → which record type and which filters, for record_lookup. Pure apart from the ``Names``.

The shared words (mine, dates, durations, amounts, customers, colleagues, cities, industries, tiers,
products) are read by ``skills/lookup_words.py`` exactly as ticket lookup reads them; this module adds
the object words and each object's own fields (``skills/vocab/record_lookup.yaml``). Words left over are
reported, never dropped: the skill then returns no rows.

Canonical filters (present only when understood):

    owner           "me" | "team" (the asker and everyone below them)
    owner_ids       sorted colleague ids ("陈浩的商机")
    account_ids     sorted visible account ids named (or the page's customer)
    account_city, account_region, account_industry, account_tier   sorted values
    stage           opportunity stages, in pipeline order
    closing         true: open deals (with the period, if any, on the close date)
    stalled         true: open and not updated for ``stalled_days`` days (N: for N days)
    close_date_passed true: open with the expected close date before today
    competitor      true (any) | sorted competitor names
    amount          {"gt"|"ge"|"lt"|"le": "500000"}
    product_codes   sorted
    kind            activity kinds (visit, call, wecom, email, note)
    lead_status     lead statuses
    lead_source     lead sources (展会, 线上研讨会, …)
    deal_status     account deal statuses (未成交, 已成交, 多次成交)
    score           {"gt"|"ge"|"lt"|"le": N}
    probability     {"gt"|"ge"|"lt"|"le": N} (percent, opportunities)
    decision_role   contact roles
    public_pool     true
    opportunity_ids the page's deal
    <date field>    {"from", "to"} on close_date | created_at | occurred_at
    older_than_days N
    rank            {"by": largest|smallest|latest|earliest, "n": N (optional)}: order, and keep the first N
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Protocol

from copilot.crm.models import ACTIVITY_KINDS, OPPORTUNITY_STAGES
from skills.lookup_words import (
    Found,
    Names,
    Table,
    Text,
    common,
    merge,
    resolve_leftovers,
    take_amounts,
    take_asker,
    take_attributes,
    take_dates,
    take_team,
    to_number,
    vocab,
)

OBJECT_TYPES = ("opportunity", "account", "lead", "contact", "activity")
LEAD_STATUSES = ("raw", "MQL", "SQL", "converted", "invalid")


class RecordResolver(Names, Protocol):
    page_account_id: int | None
    page_opportunity_id: int | None

    def competitors(self) -> list[str]: ...

    def lead_sources(self) -> list[str]: ...


@dataclass
class RecordQuery:
    object_type: str | None = None
    filters: dict[str, Any] = field(default_factory=dict)
    not_understood: list[str] = field(default_factory=list)
    matched_accounts: list[tuple[int, str]] = field(default_factory=list)
    matched_users: list[tuple[int, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@lru_cache(maxsize=1)
def _tables() -> dict[str, Table]:
    v, c = vocab("record_lookup"), common()
    return {
        "objects": Table(v["objects"]),
        "kinds": Table(v["activity_kinds"]),
        "stages": Table(v["stages"]),
        "open": Table({True: v["open_phrases"]}),
        "closing": Table({True: v["closing"]}),
        "close_markers": Table({True: v["close_markers"]}),
        "stalled": Table({True: v["stalled"]}),
        "passed": Table({True: v["close_date_passed"]}),
        "competitor": Table({True: v["competitor_any"]}),
        "amount_words": Table({True: v["amount_words"]}),
        "lead_statuses": Table(v["lead_statuses"]),
        "roles": Table(v["decision_roles"]),
        "pool": Table({True: v["public_pool"]}),
        "this_account": Table({True: v["this_account"]}),
        "this_deal": Table({True: v["this_deal"]}),
        "created": Table({True: v["created_markers"]}),
        "ranking": Table(v["ranking"]),
        "rank_by": Table({True: v["rank_by_words"]}),
        "mine": Table({True: c["mine"]}),
        "stop": Table({True: [*c["stop"], *c["person_markers"], *v["stop"], *v.get("said", [])]}),
    }


def parse(text: str, *, today: dt.date, resolver: RecordResolver, default_object: str | None = None) -> RecordQuery:
    v = vocab("record_lookup")
    tb = _tables()
    rq = RecordQuery()
    t = Text(text)
    f = rq.filters
    sets: dict[str, set[Any]] = {
        k: set() for k in ("stage", "kind", "lead_status", "lead_source", "decision_role", "competitor")
    }
    implied: list[str] = []

    when = take_dates(t, today)
    score = _take_score(t)
    probability = _take_probability(t)
    amount = take_amounts(t)
    rank = _take_rank(t, tb)
    if rank:
        f["rank"] = rank

    def flag(key: str, value: Any = True, obj: str | None = None) -> bool:
        f[key] = value
        if obj:
            implied.append(obj)
        return True

    def page(key: str, page_id: int | None, m: re.Match[str]) -> bool:
        if page_id is None:
            rq.notes.append(f"{key}_without_page")
            rq.not_understood.append(m.group(0))
        else:
            f[key] = [page_id]
        return True

    t.take_phrases(tb["this_account"], lambda _k, m: page("account_ids", resolver.page_account_id, m))
    t.take_phrases(tb["this_deal"], lambda _k, m: page("opportunity_ids", resolver.page_opportunity_id, m))
    if take_team(t):
        f["owner"] = "team"
    t.take_phrases(tb["mine"], lambda _k, _m: flag("owner", "me"))
    asker_en = take_asker(t, "en")  # "tickets I closed": after "i own" (mine), before the verb is a state
    t.take_phrases(tb["passed"], lambda _k, _m: flag("close_date_passed", obj="opportunity"))
    t.take_phrases(tb["stalled"], lambda _k, _m: flag("stalled", obj="opportunity"))
    t.take_phrases(tb["open"], lambda _k, _m: _add(sets["stage"], v["open_stages"]))
    # Before the stages: "预计签单" is an expected close date, "签单" alone a won deal.
    t.take_phrases(tb["closing"], lambda _k, _m: flag("closing", obj="opportunity"))
    t.take_phrases(tb["stages"], lambda k, _m: _add(sets["stage"], [k]))
    close_marker = _has_free(t, tb["close_markers"])
    t.take_phrases(tb["close_markers"], lambda _k, _m: True)
    t.take_phrases(tb["competitor"], lambda _k, _m: flag("competitor", True, "opportunity"))
    t.take_phrases(tb["pool"], lambda _k, _m: flag("public_pool"))
    t.take_phrases(tb["roles"], lambda k, _m: _add(sets["decision_role"], [k]) and _imply(implied, "contact"))
    t.take_phrases(tb["lead_statuses"], lambda k, _m: _add(sets["lead_status"], [k]) and _imply(implied, "lead"))
    sources = {s: [s] for s in resolver.lead_sources()}
    for source, aliases in v["lead_source_aliases"].items():
        if source in sources:
            sources[source] += aliases
    t.take_phrases(Table(sources), lambda k, _m: _add(sets["lead_source"], [k]) and _imply(implied, "lead"))
    competitors = Table({name: [name] for name in resolver.competitors()})
    t.take_phrases(competitors, lambda k, _m: _add(sets["competitor"], [k]))

    # The object: head noun (zh: last one not followed by 的; en: first), else what the filters imply.
    for m in tb["kinds"].regex.finditer(t.s):
        if t.free(m.start(), m.end()):
            sets["kind"].add(tb["kinds"].lookup(m.group(0)))
            implied.append("activity")
            t.mark(m.start(), m.end())
    heads: list[tuple[int, str, bool, bool]] = []
    for m in tb["objects"].regex.finditer(t.s):
        if t.free(m.start(), m.end()):
            modifier = bool(re.match(r"\s*的", t.s[m.end() :]))
            word = m.group(0)
            heads.append((m.start(), tb["objects"].lookup(word), word.isascii(), modifier))
            t.mark(m.start(), m.end())
    if sets["stage"]:
        implied.insert(0, "opportunity")  # "won last month": a stage is a deal's, unless something says otherwise
    rq.object_type = _head(t.s, heads) or (implied[-1] if implied else None) or default_object
    if sets["decision_role"] and rq.object_type in ("account", None):
        # A role is a contact's: "decision makers at my accounts", "客户里的决策者" are contacts.
        rq.object_type = "contact"
    if sets["kind"]:
        rq.object_type = rq.object_type if rq.object_type == "activity" and not heads else "activity"

    created_marker = _has_free(t, tb["created"])
    found = Found()
    take_attributes(t, found)
    if (take_asker(t, "zh") or asker_en) and "owner" not in f:
        f["owner"] = "me"  # "我上周都拜访了谁": the asker did it
    t.take(tb["amount_words"].regex, lambda m: True)
    t.take(tb["stop"].regex, lambda m: True)
    t.take(tb["created"].regex, lambda m: True)
    resolve_leftovers(t, resolver, found)
    rq.not_understood.extend(found.not_understood)

    if found.accounts:
        f["account_ids"] = sorted(set(f.get("account_ids", [])) | set(found.accounts))
    rq.matched_accounts = sorted(found.accounts.items())
    rq.matched_users = sorted(found.users.items())
    for key, values in (
        ("owner_ids", found.users),
        ("account_city", found.cities),
        ("account_region", found.regions),
        ("account_industry", found.industries),
        ("account_tier", found.tiers),
        ("product_codes", found.product_codes),
    ):
        if values:
            f[key] = sorted(values)
    if found.product_lines:
        rq.not_understood.extend(sorted(found.product_lines))  # no product line filter on records yet
    if sets["stage"]:
        f["stage"] = [s for s in OPPORTUNITY_STAGES if s in sets["stage"]]
    if sets["kind"]:
        f["kind"] = [k for k in ACTIVITY_KINDS if k in sets["kind"]]
    if sets["lead_status"]:
        f["lead_status"] = [s for s in LEAD_STATUSES if s in sets["lead_status"]]
    if close_marker and rq.object_type == "account" and not when.periods:
        f["deal_status"] = v["account_deal_status"]["won"]  # "成交过的客户"
    elif close_marker and rq.object_type not in ("opportunity", "account"):
        rq.not_understood.append("成交" if re.search(r"[\u4e00-\u9fff]", text) else "close")
    if sets["lead_source"]:
        f["lead_source"] = sorted(sets["lead_source"])
    if rq.object_type == "account" and "stage" in f:
        # "没成交过的客户 / 成交过的客户": the account's deal status, not a deal stage.
        status = v["account_deal_status"]
        won = f["stage"] == ["赢单"]
        if won or f["stage"] == v["open_stages"]:
            f["deal_status"] = status["won"] if won else status["open"]
            del f["stage"]
    if sets["decision_role"]:
        f["decision_role"] = sorted(sets["decision_role"])
    if sets["competitor"]:
        f["competitor"] = sorted(sets["competitor"])
    if amount:
        f["amount"] = amount
    if score:
        f["score"] = score
    if probability:
        f["probability"] = probability
        if rq.object_type in (None, "account"):
            rq.object_type = "opportunity"  # a win probability is a deal's
    if when.periods:
        default = v["date_default"].get(rq.object_type or "", "created_at")
        field_name = "created_at" if created_marker and not close_marker and not f.get("closing") else default
        if rq.object_type == "opportunity" and (close_marker or f.get("closing")):
            field_name = "close_date"
        f[field_name] = merge(when.periods)
    if when.older_than_days is not None:
        if f.get("stalled"):
            # "停滞超过一个月": the duration is how long the deal has been still, not its age.
            f["stalled"] = when.older_than_days
        else:
            f["older_than_days"] = when.older_than_days
    return rq


def _imply(implied: list[str], object_type: str) -> bool:
    implied.append(object_type)
    return True


def _add(target: set[Any], values: Any) -> bool:
    target.update(values)
    return True


def _has_free(t: Text, table: Table) -> bool:
    return any(t.free(m.start(), m.end()) for m in table.regex.finditer(t.s))


def _head(s: str, heads: list[tuple[int, str, bool, bool]]) -> str | None:
    """The object asked about. A word followed by 的 modifies the head after it ("客户的商机", "这个 account 的
    contacts"); among the rest, Chinese puts the head last and English first."""
    if not heads:
        return None
    plain = [(o, en) for _, o, en, modifier in heads if not modifier] or [(o, en) for _, o, en, _ in heads]
    zh = [o for o, en in plain if not en]
    return zh[-1] if zh else plain[0][0]


_RANK_NUM = r"\d{1,3}|[一二两三四五六七八九十]{1,3}|one|two|three|four|five|six|seven|eight|nine|ten|twenty"


def _take_rank(t: Text, tb: dict[str, Table]) -> dict[str, Any]:
    """ "金额最大的五个 / top 5 / 最近的三条 / 3 most recent" → {"by": "largest", "n": 5} (n absent: order only).
    The count is the number next to the superlative, so "前5个" or "5 biggest" both read; a number elsewhere
    in the sentence is left to the other readers."""
    units = "|".join(re.escape(u) for u in vocab("record_lookup")["rank_count_units"])
    out: dict[str, Any] = {}
    for m in tb["ranking"].regex.finditer(t.s):
        if not t.free(m.start(), m.end()):
            continue
        out["by"] = tb["ranking"].lookup(m.group(0))
        t.mark(m.start(), m.end())
        a, b = max(0, m.start() - 12), min(len(t.s), m.end() + 14)
        zh = re.compile(rf"(?:前\s*)?(?P<n>{_RANK_NUM})\s*(?:{units})", re.I)
        en = re.compile(rf"(?<![\w.])(?P<n>{_RANK_NUM})(?![\w.%])", re.I)
        for rx in (zh, en):
            hit = next((c for c in rx.finditer(t.s, a, b) if t.free(c.start(), c.end())), None)
            if hit is not None:
                n = to_number(hit.group("n"))
                if n is not None and 0 < n <= 100:
                    out["n"] = int(n)
                    t.mark(hit.start(), hit.end())
                    break
        break
    if out:
        t.take_phrases(tb["rank_by"], lambda _k, _m: True)
    return out


_SCORE_OPS = {"以上": "ge", "及以上": "ge", "或以上": "ge", "以下": "le", "及以下": "le"}
_PERCENT = r"(?P<n>\d{1,3}|[一二三四五六七八九十]{1,2}(?=\s*成))\s*(?P<pct>%|％|成|percent)?"


def _take_probability(t: Text) -> dict[str, int]:
    """ "赢率50%以上 / 成交概率大于七成 / win probability over 60%" → {"ge": 50} (percent). "七成" is 70."""
    words = "|".join(re.escape(x) for x in sorted(vocab("record_lookup")["probability_words"], key=len, reverse=True))
    c = common()
    gt = "|".join(re.escape(x) for x in sorted(c["amount_gt"], key=len, reverse=True))
    lt = "|".join(re.escape(x) for x in sorted(c["amount_lt"], key=len, reverse=True))
    out: dict[str, int] = {}

    def put(op: str | None) -> Any:
        def on(m: re.Match[str]) -> bool:
            n = to_number(m.group("n"))
            if n is None:
                return False
            value = int(n) * (10 if m.group("pct") == "成" else 1)
            if not 0 <= value <= 100:
                return False
            out[op or _SCORE_OPS.get(m.group("suf"), "ge")] = value
            return True

        return on

    sep = r"\s*(?:is\s+|在|为|达到)?\s*"
    t.take(re.compile(rf"(?:{words}){sep}(?:{gt})\s*{_PERCENT}", re.I), put("gt"))
    t.take(re.compile(rf"(?:{words}){sep}(?:{lt})\s*{_PERCENT}", re.I), put("lt"))
    t.take(re.compile(rf"(?:{words}){sep}{_PERCENT}\s*(?P<suf>及以上|或以上|以上|及以下|以下)", re.I), put(None))
    t.take(re.compile(rf"(?:{words}){sep}{_PERCENT}\s*\+", re.I), put("ge"))
    return out


def _take_score(t: Text) -> dict[str, int]:
    """ "评分80以上 / score above 80 / 分数大于60" → {"ge": 80}."""
    words = vocab("record_lookup")["score_words"]
    c = common()
    w = "|".join(re.escape(x) for x in sorted(words, key=len, reverse=True))
    gt = "|".join(re.escape(x) for x in sorted(c["amount_gt"], key=len, reverse=True))
    lt = "|".join(re.escape(x) for x in sorted(c["amount_lt"], key=len, reverse=True))
    out: dict[str, int] = {}

    def put(op: str | None) -> Any:
        def on(m: re.Match[str]) -> bool:
            kind = op or _SCORE_OPS.get(m.group("suf"), "ge")
            out[kind] = int(m.group("n"))
            return True

        return on

    t.take(re.compile(rf"(?:{w})\s*(?:is\s+)?(?:{gt})\s*(?P<n>\d{{1,3}})(?:\s*分)?", re.I), put("gt"))
    t.take(re.compile(rf"(?:{w})\s*(?:is\s+)?(?:{lt})\s*(?P<n>\d{{1,3}})(?:\s*分)?", re.I), put("lt"))
    t.take(
        re.compile(rf"(?:{w})\s*(?:在)?\s*(?P<n>\d{{1,3}})\s*分?\s*(?P<suf>及以上|或以上|以上|及以下|以下)", re.I),
        put(None),
    )
    t.take(re.compile(rf"(?:{w})\s*(?:of\s+)?(?P<n>\d{{1,3}})\s*\+", re.I), put("ge"))
    return out
