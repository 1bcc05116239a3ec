"""Plain words (zh, en or mixed) → structured ticket filters. Pure: no database, no clock.

``parse(text, today=..., resolver=...)`` returns the filters it understood, in one canonical shape
(what the eval dataset compares exactly), and the words it did not understand — never dropped
silently: the skill runs no query while any are left (or asks the model, when one is configured, to
propose filters that are then validated against this same vocabulary: ``validate_proposal``).
Vocabulary is data (``skills/vocab/ticket_lookup.yaml`` and the shared ``lookup_common.yaml``); names
of customers, colleagues, products, cities, serials, error codes and ticket numbers come from the
``Resolver`` (the skill's reads through ``ctx.records``, so only what the asker may see).

Canonical filters (a key is present only when understood):

    status          [new, in_progress, pending_customer, resolved, closed]  subset, in that order
    priority        [low, medium, high, urgent]                             subset, in that order
    process_node    TICKET_NODES names                                      subset, in that order
    business_type   sorted business types (保养, 维修, 安装, 技术支持, 咨询)
    channel         sorted channels (400热线, 微信服务号, 设备二维码, 官网, App)
    error_codes     sorted alarm codes that exist on visible tickets
    account_ids     sorted ids of visible accounts whose name matched (or the page's customer)
    account_city, account_region, account_industry, account_tier      sorted values
    device_ids      the page's device
    device_serials, product_codes, product_lines, numbers (ticket numbers)   sorted
    assignee        "me" (the asker) | "team" (the asker and their reports) | "unassigned"
    account_owner   "me": tickets of the customers the asker owns (a rep's "我的客户")
    exclude_ids     the page's ticket, when the words ask for the *other* tickets ("同一个客户的其他工单")
    assignee_ids    sorted ids of colleagues named ("郑凯的工单")
    created, resolved, sla_due   {"from": "YYYY-MM-DD", "to": "YYYY-MM-DD"}  inclusive; either end may be absent
    older_than_days N: created more than N days before now ("超过一周", "older than 3 days")
    sla_breached    true
    no_device       true: tickets not tied to a device

Decisions, so that users and the eval agree:

* "高优先级 / high priority / 高优" means high **and above** (high, urgent). "紧急/urgent" alone is urgent
  only; "只看高优先级 / only high" is high only.
* "未关闭 / open / 还没完成 / 没处理完" = new, in_progress, pending_customer. "已关闭/closed" = closed;
  "已解决/resolved" = resolved; "done/已结束" = resolved + closed. "待处理/未处理/new" = new.
* "已完成 / completed" is the process node 已完成 (its exact name), not a status.
* A period is the creation date unless the request says otherwise: with a resolution word that is not
  negated ("上周解决的", "closed since …", but not "未解决") it is the resolution date; with an SLA-due
  word ("今天SLA到期") it is the SLA due time of open tickets.
* "我的 / 我名下 / mine / assigned to me" bind to the asker (assignee); "me" alone ("show me") does not.
* A product that is never installed as a device (the SaaS platform) has tickets without a device.
* A bare "我" as the subject ("我上个月解决了哪些") binds to the asker like "我的"; "帮我 / 我想看" do not.
* "新建 / 新开" with no period or age beside it is the state new ("新建的工单"); with one ("今天新建的") it is
  the creation date.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Protocol

from copilot.crm.models import TICKET_NODES, TICKET_PRIORITIES, TICKET_STATUSES
from skills.lookup_words import (
    Found,
    Names,
    Table,
    Text,
    When,
    common,
    merge,
    phrase_regex,
    resolve_leftovers,
    take_asker,
    take_attributes,
    take_dates,
    take_team,
    vocab,
)

OPEN = ("new", "in_progress", "pending_customer")
DATE_FIELDS = ("created", "resolved", "sla_due")
LIST_KEYS = (
    "business_type",
    "channel",
    "error_codes",
    "account_ids",
    "account_city",
    "account_region",
    "account_industry",
    "account_tier",
    "device_ids",
    "device_serials",
    "product_codes",
    "product_lines",
    "numbers",
    "assignee_ids",
)


class Resolver(Names, Protocol):
    page_account_id: int | None
    page_device_id: int | None

    def product_codes(self) -> list[str]: ...

    def ticket_number(self, token: str) -> str | None: ...

    def device_serial(self, token: str) -> str | None: ...

    def error_codes(self) -> list[str]: ...


@dataclass
class ParsedQuery:
    filters: dict[str, Any] = field(default_factory=dict)
    not_understood: list[str] = field(default_factory=list)
    matched_accounts: list[tuple[int, str]] = field(default_factory=list)
    matched_users: list[tuple[int, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Vocab:
    status: Table
    status_values: dict[str, tuple[str, ...]]
    priority: Table
    priority_values: dict[str, tuple[str, ...]]
    nodes: Table
    business_types: Table
    channels: Table
    sla: Table
    mine: Table
    my_accounts: Table
    others: Table
    status_without_period: Table
    unassigned: Table
    this_customer: Table
    this_device: Table
    no_device: Table
    markers: dict[str, Table]
    negations: tuple[str, ...]
    stop: Table
    stop_words: tuple[str, ...]
    noun_fillers: str


@lru_cache(maxsize=1)
def _vocab() -> _Vocab:
    v, c = vocab("ticket_lookup"), common()
    open_ = tuple(v["status"]["open"])
    done = tuple(v["status"]["done"])
    status_values = {"open": open_, "not_closed": open_, "done": done, **{s: (s,) for s in TICKET_STATUSES}}
    phrases = {k: list(p) for k, p in v["status"]["phrases"].items()}
    for key, words in (("open", v["status"]["negated_done"]), ("not_closed", v["status"]["negated_close"])):
        # Chinese runs together ("没结"); a Chinese negation before an English word may have a space.
        phrases[key] += [f"{n}{sep}{w}" for n in v["status"]["negators"] for w in words for sep in ("", " ")]
    high = tuple(v["priority"]["high_and_above"])
    priority_values = {"high_and_above": high, **{p: (p,) for p in TICKET_PRIORITIES}}
    nodes = {n: [n, *v["nodes"].get(n, [])] for n in TICKET_NODES if n != "新建"}
    return _Vocab(
        status=Table(phrases),
        status_values=status_values,
        priority=Table(v["priority"]["phrases"]),
        priority_values=priority_values,
        nodes=Table(nodes),
        business_types=Table(v["business_types"]),
        channels=Table(v["channels"]),
        sla=Table({True: v["sla_breached"]}),
        mine=Table({"me": c["mine"]}),
        my_accounts=Table({"me": v["my_accounts"]}),
        others=Table({True: v["others"]}),
        status_without_period=Table(v["status_without_period"]),
        unassigned=Table({"unassigned": v["assignee_unassigned"]}),
        this_customer=Table({True: v["this_customer"]}),
        this_device=Table({True: v["this_device"]}),
        no_device=Table({True: v["no_device"]}),
        markers={k: Table({True: phrases}) for k, phrases in v["date_fields"].items()},
        negations=tuple(v["negations"]),
        stop=Table({True: [*c["stop"], *c["person_markers"], *v["stop"]]}),
        stop_words=tuple(str(w) for w in (*c["stop"], *c["person_markers"], *v["stop"])),
        noun_fillers=str(v.get("noun_fillers", "")),
    )


_TOKEN = re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9][A-Za-z0-9_-]*")


def parse(text: str, *, today: dt.date, resolver: Resolver) -> ParsedQuery:
    voc = _vocab()
    pq = ParsedQuery()
    t = Text(text)
    sets: dict[str, set[Any]] = {k: set() for k in ("status", "priority", "process_node", *LIST_KEYS)}

    def add(key: str, values: Any) -> bool:
        sets[key].update(values)
        return True

    # 1. Dates first: they contain digits that would otherwise look like codes or serials.
    when = take_dates(t, today)

    # 2. The page's record, then vocabulary (earlier tables win where phrases overlap).
    t.take_phrases(voc.this_customer, lambda _k, m: _this_page(pq, sets, resolver.page_account_id, "account_ids", m))
    t.take_phrases(voc.no_device, lambda _k, _m: _set(pq.filters, "no_device", True))
    t.take_phrases(voc.this_device, lambda _k, m: _this_page(pq, sets, resolver.page_device_id, "device_ids", m))
    t.take_phrases(voc.priority, lambda k, _m: add("priority", voc.priority_values[k]))
    t.take_phrases(voc.unassigned, lambda k, _m: _set(pq.filters, "assignee", k))
    t.take_phrases(voc.my_accounts, lambda k, _m: _set(pq.filters, "account_owner", k))
    page_ticket = getattr(resolver, "page_ticket_id", None)  # optional: only a ticket page has one
    if page_ticket is not None:
        t.take_phrases(voc.others, lambda _k, _m: _set(pq.filters, "exclude_ids", [page_ticket]))
    if take_team(t):
        pq.filters["assignee"] = "team"
    t.take_phrases(voc.mine, lambda k, _m: _set(pq.filters, "assignee", k))
    asker_en = take_asker(t, "en")  # "tickets I closed": after "i own" (mine), before the verb is a state
    t.take_phrases(voc.sla, lambda _k, _m: _set(pq.filters, "sla_breached", True))
    status_keys: list[str] = []

    def on_status(k: str, _m: re.Match[str]) -> bool:
        status_keys.append(k)
        return add("status", voc.status_values[k])

    t.take_phrases(voc.status, on_status)
    t.take_phrases(voc.nodes, lambda k, _m: add("process_node", [k]))
    t.take_phrases(voc.business_types, lambda k, _m: add("business_type", [k]))
    t.take_phrases(voc.channels, lambda k, _m: add("channel", [k]))

    # 3. Ticket numbers, device serials and alarm codes (exact, through the resolver), then product codes.
    codes = {c.upper(): c for c in resolver.error_codes()}

    def token(m: re.Match[str]) -> bool:
        raw = m.group(0)
        number = resolver.ticket_number(raw) if any(ch.isdigit() for ch in raw) else None
        if number:
            return add("numbers", [number])
        serial = resolver.device_serial(raw) if any(ch.isdigit() for ch in raw) else None
        if serial:
            return add("device_serials", [serial])
        if raw.upper() in codes:
            return add("error_codes", [codes[raw.upper()]])
        return False

    t.take(_TOKEN, token)
    catalogue = {re.sub(r"[-\s]", "", c).upper(): c for c in resolver.product_codes()}
    if catalogue:
        code_re = re.compile(
            "|".join(
                rf"(?<![A-Za-z0-9]){'-?'.join(re.escape(ch) for ch in key)}(?![A-Za-z0-9])"
                for key in sorted(catalogue, key=len, reverse=True)
            ),
            re.I,
        )
        t.take(code_re, lambda m: add("product_codes", [catalogue[re.sub(r"[-\s]", "", m.group(0)).upper()]]))

    # 4. Which date field a period is about — read before the markers are taken as filler.
    date_field, marker, marker_words = _date_field(t, voc, sets["status"])
    found = Found()
    take_attributes(t, found)
    if (take_asker(t, "zh") or asker_en) and "assignee" not in pq.filters:
        pq.filters["assignee"] = "me"
    t.take(voc.stop.regex, lambda m: True)
    for table in voc.markers.values():
        t.take(table.regex, lambda m: True)

    # 5. What is left: a customer, colleague, city, region, industry, product — or not understood.
    # "维修单 / 紧急单 / 解决了的单": 单 is the ticket noun, stripped at the edge of what is left (not inside a name).
    resolve_leftovers(t, resolver, found, fillers=str(common()["fillers"]) + voc.noun_fillers)
    pq.not_understood.extend(found.not_understood)
    sets["account_ids"].update(found.accounts)
    sets["assignee_ids"].update(found.users)
    sets["account_city"].update(found.cities)
    sets["account_region"].update(found.regions)
    sets["account_industry"].update(found.industries)
    sets["account_tier"].update(found.tiers)
    sets["product_codes"].update(found.product_codes)
    sets["product_lines"].update(found.product_lines)
    if sets["product_codes"] and sets["product_lines"]:
        # "HA-5 血球仪": the line word describes the code — the code narrows, the line adds nothing.
        implied = {line for code, _n, _e, line in resolver.products() if code in sets["product_codes"]}
        if sets["product_lines"] <= implied:
            sets["product_lines"].clear()
    pq.matched_accounts = sorted(found.accounts.items())
    pq.matched_users = sorted(found.users.items())

    groups = [set(voc.status_values[k]) for k in status_keys]
    positive = {st for k in status_keys if k not in ("open", "not_closed") for st in voc.status_values[k]}
    if "not_closed" in status_keys and positive - {"closed"}:
        # "已解决但还没关闭 / resolved but not closed": the state named, less closed — not a union with open.
        sets["status"] = positive - {"closed"}
    elif any(a < b for a in groups for b in groups):
        # "open tickets waiting on the customer": a broad state narrowed by one inside it is that one;
        # states side by side ("处理中或待客户确认") stay a union.
        sets["status"] = {st for g in groups if not any(o < g for o in groups) for st in g}
    if sets["status"]:
        pq.filters["status"] = [s for s in TICKET_STATUSES if s in sets["status"]]
    if sets["priority"]:
        pq.filters["priority"] = [p for p in TICKET_PRIORITIES if p in sets["priority"]]
    if sets["process_node"]:
        pq.filters["process_node"] = [n for n in TICKET_NODES if n in sets["process_node"]]
    for key in LIST_KEYS:
        if sets[key] or (key in ("account_ids", "device_ids") and key in pq.notes):
            pq.filters[key] = sorted(sets[key])
    _bind_dates(pq.filters, when, date_field)
    if not when.periods and marker == "resolved" and "status" not in pq.filters:
        # "修好的工单": a resolution word with no period is the state, never dropped.
        pq.filters["status"] = [s for s in TICKET_STATUSES if s in voc.status_values["done"]]
    elif (
        not when.periods
        and when.older_than_days is None
        and marker == "created"
        and voc.status_without_period.lookup(marker_words) is not None
        and "status" not in pq.filters
    ):
        # "新建的工单 / 状态是新建": no day to bind the creation word to, so it names the state.
        pq.filters["status"] = [voc.status_without_period.lookup(marker_words)]
    elif not when.periods and marker == "sla_due":
        pq.not_understood.append(marker_words)  # "到期" with no day: which day is not said
    return pq


def _date_field(t: Text, voc: _Vocab, status: set[str]) -> tuple[str, str | None, str]:
    """The date field a period is about, the free marker that said so (if any) and its words."""

    def free_hit(name: str) -> str | None:
        table = voc.markers[name]
        # Scan markers and filler words together, leftmost-longest: a marker inside a longer filler word
        # ("关的" in "相关的") is no marker. A word that is both (报修) stays a marker.
        scan = phrase_regex([*table.key, *voc.stop_words])
        for m in scan.finditer(t.s):
            if table.lookup(m.group(0)) is None or not t.free(m.start(), m.end()):
                continue
            before = t.s[max(0, m.start() - 3) : m.start()].lower().rstrip()
            if any(before.endswith(n.lower()) for n in voc.negations):
                continue
            return m.group(0)
        return None

    for name in ("sla_due", "created", "resolved"):
        words = free_hit(name)
        if words:
            return name, name, words
    if status and status <= {"resolved", "closed"}:
        return "resolved", None, ""
    return "created", None, ""


def _bind_dates(filters: dict[str, Any], when: When, date_field: str) -> None:
    if when.periods:
        filters[date_field] = merge(when.periods)
        if date_field == "resolved" and filters.get("status") == ["resolved"]:
            # "resolved last month": resolved then, whether or not it has been closed since.
            filters["status"] = ["resolved", "closed"]
    if when.older_than_days is not None:
        filters["older_than_days"] = when.older_than_days


def _set(target: dict[str, Any], key: str, value: Any) -> bool:
    target[key] = value
    return True


def _this_page(pq: ParsedQuery, sets: dict[str, set[Any]], page_id: int | None, key: str, m: re.Match[str]) -> bool:
    if page_id is None:
        # No page record to bind to: say so rather than list every customer's (device's) tickets.
        pq.notes.append(f"this_{key.removesuffix('_ids')}_without_page")
        pq.not_understood.append(m.group(0))
        return True
    pq.notes.append(key)
    sets[key].add(page_id)
    return True


# --- the model's proposal, validated against the same vocabulary --------------------------------------


def proposal_schema() -> dict[str, Any]:
    """What a model may propose when the parser left words it did not understand (all optional)."""
    voc = vocab("ticket_lookup")
    span = {
        "type": "object",
        "properties": {"from": {"type": "string"}, "to": {"type": "string"}},
        "additionalProperties": False,
    }

    def enum_list(values: list[str]) -> dict[str, Any]:
        return {"type": "array", "items": {"type": "string", "enum": values}}

    strings = {"type": "array", "items": {"type": "string"}}
    return {
        "title": "ticket_filters",
        "type": "object",
        "properties": {
            "status": enum_list(list(TICKET_STATUSES)),
            "priority": enum_list(list(TICKET_PRIORITIES)),
            "process_node": enum_list(list(TICKET_NODES)),
            "business_type": enum_list(list(voc["business_types"])),
            "channel": enum_list(list(voc["channels"])),
            "error_codes": strings,
            "customer_names": strings,
            "assignee_names": strings,
            "product_codes": strings,
            "assignee": {"type": "string", "enum": ["me", "unassigned"]},
            "created": span,
            "resolved": span,
            "older_than_days": {"type": "integer"},
            "sla_breached": {"type": "boolean"},
            "unsupported": strings,
        },
        "additionalProperties": False,
    }


def validate_proposal(proposal: dict[str, Any], resolver: Resolver) -> tuple[dict[str, Any], list[str]]:
    """The model's filters that hold against our vocabulary and the asker's records, and what did not.

    Every value is checked: enums against the vocabulary, names resolved among visible records,
    dates parsed. Anything that fails is returned as a problem, never used.
    """
    voc = vocab("ticket_lookup")
    out: dict[str, Any] = {}
    problems: list[str] = []
    allowed = {
        "status": list(TICKET_STATUSES),
        "priority": list(TICKET_PRIORITIES),
        "process_node": list(TICKET_NODES),
        "business_type": list(voc["business_types"]),
        "channel": list(voc["channels"]),
    }
    for key, values in allowed.items():
        got = proposal.get(key)
        if got:
            bad = [v for v in got if v not in values]
            problems += [f"{key}={v}" for v in bad]
            kept = [v for v in values if v in got]
            if kept:
                out[key] = kept if key in ("status", "priority", "process_node") else sorted(kept)
    codes = {c.upper(): c for c in resolver.error_codes()}
    for code in proposal.get("error_codes") or []:
        if str(code).upper() in codes:
            out.setdefault("error_codes", []).append(codes[str(code).upper()])
        else:
            problems.append(f"error_code={code}")
    catalogue = {c.upper(): c for c in resolver.product_codes()}
    for code in proposal.get("product_codes") or []:
        if str(code).upper() in catalogue:
            out.setdefault("product_codes", []).append(catalogue[str(code).upper()])
        else:
            problems.append(f"product={code}")
    for name in proposal.get("customer_names") or []:
        hits = resolver.accounts(str(name)) if str(name).strip() else []
        if hits:
            out.setdefault("account_ids", []).extend(i for i, _ in hits)
        else:
            problems.append(f"customer={name}")
    for name in proposal.get("assignee_names") or []:
        hits = resolver.users(str(name)) if str(name).strip() else []
        if hits:
            out.setdefault("assignee_ids", []).extend(i for i, _ in hits)
        else:
            problems.append(f"assignee={name}")
    if proposal.get("assignee") in ("me", "unassigned"):
        out["assignee"] = proposal["assignee"]
    for key in ("created", "resolved"):
        span = proposal.get(key)
        if isinstance(span, dict) and span:
            try:
                clean = {k: dt.date.fromisoformat(str(span[k])).isoformat() for k in ("from", "to") if span.get(k)}
            except ValueError:
                problems.append(f"{key}={span}")
            else:
                if clean:
                    out[key] = clean
    days = proposal.get("older_than_days")
    if isinstance(days, int) and not isinstance(days, bool):
        if 0 < days <= 36500:
            out["older_than_days"] = days
        else:
            problems.append(f"older_than_days={days}")
    if proposal.get("sla_breached") is True:
        out["sla_breached"] = True
    for key in ("error_codes", "product_codes", "account_ids", "assignee_ids"):
        if key in out:
            out[key] = sorted(set(out[key]))
    problems += [f"unsupported={u}" for u in proposal.get("unsupported") or [] if str(u).strip()]
    return out, problems
