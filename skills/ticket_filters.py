"""Plain words (zh, en or mixed) → structured ticket filters. Pure: no database, no clock.

``parse(text, today=..., resolver=...)`` returns the filters it understood, in one canonical shape
(what the eval dataset compares exactly), and the words it did not understand — never dropped
silently. Names of customers, device serials and product codes are looked up through a ``Resolver``
(the skill's is permission-filtered); everything else is vocabulary below.

Canonical filters (a key is present only when understood):

    status        [new, in_progress, pending_customer, resolved, closed]  subset, in that order
    priority      [low, medium, high, urgent]                             subset, in that order
    process_node  TICKET_NODES names                                      subset, in that order
    account_ids   sorted ids of visible accounts whose name matched
    device_serials, product_codes, numbers (ticket numbers)   sorted
    assignee      "me" (the asker) | "unassigned"
    created       {"from": "YYYY-MM-DD", "to": "YYYY-MM-DD"}  inclusive; either end may be absent
    sla_breached  true

Decisions, so that users and the eval agree:

* "高优先级 / high priority / 高优" means high **and above** (high, urgent): someone asking for the
  high-priority queue never wants the more urgent tickets hidden. "紧急/urgent" alone is urgent only;
  "只看高优先级 / only high" is high only.
* "未关闭 / open" = new, in_progress, pending_customer. "已关闭/closed" = closed; "已解决/resolved" =
  resolved; "done/已结束" = resolved + closed. "待处理/未处理/new" = new.
* "已完成 / completed" is the process node 已完成 (its exact name), not a status.
* "新建/created/提交" mark the creation date ("上周新建的") and add no filter by themselves.
* Weeks start on Monday; 本周/this week and 本月/this month are the whole calendar week/month;
  最近N天/last N days is the N days ending today; "上周以来/since last week" runs from that week's
  Monday to today.
* "我的/my/assigned to me" bind to the asker (assignee); "me" alone ("show me") does not.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from copilot.crm.models import TICKET_NODES, TICKET_PRIORITIES, TICKET_STATUSES

OPEN = ("new", "in_progress", "pending_customer")


class Resolver(Protocol):
    page_account_id: int | None

    def accounts(self, fragment: str) -> list[tuple[int, str]]: ...

    def product_codes(self) -> list[str]: ...

    def ticket_number(self, token: str) -> str | None: ...

    def device_serial(self, token: str) -> str | None: ...


@dataclass
class ParsedQuery:
    filters: dict[str, Any] = field(default_factory=dict)
    not_understood: list[str] = field(default_factory=list)
    matched_accounts: list[tuple[int, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# --- vocabulary: phrase → (filter key, values) ---------------------------------------------------
# Longest phrases win where two overlap ("待上门巡检" before "上门").

_STATUS: dict[str, tuple[str, ...]] = {
    "未关闭": OPEN,
    "没关闭": OPEN,
    "没关": OPEN,
    "未结束": OPEN,
    "未解决": OPEN,
    "没解决": OPEN,
    "还没解决": OPEN,
    "未完结": OPEN,
    "打开的": OPEN,
    "进行中的": OPEN,
    "open": OPEN,
    "unresolved": OPEN,
    "not closed": OPEN,
    "still open": OPEN,
    "active": OPEN,
    "outstanding": OPEN,
    "已关闭": ("closed",),
    "关闭的": ("closed",),
    "closed": ("closed",),
    "已解决": ("resolved",),
    "resolved": ("resolved",),
    "已结束": ("resolved", "closed"),
    "完结": ("resolved", "closed"),
    "done": ("resolved", "closed"),
    "finished": ("resolved", "closed"),
    "待处理": ("new",),
    "未处理": ("new",),
    "新工单": ("new",),
    "new": ("new",),
    "处理中": ("in_progress",),
    "in progress": ("in_progress",),
    "in-progress": ("in_progress",),
    "待客户确认": ("pending_customer",),
    "待客户": ("pending_customer",),
    "等客户": ("pending_customer",),
    "等待客户": ("pending_customer",),
    "pending customer": ("pending_customer",),
    "waiting for customer": ("pending_customer",),
    "waiting on customer": ("pending_customer",),
    "waiting for the customer": ("pending_customer",),
    "awaiting customer": ("pending_customer",),
}
HIGH_AND_ABOVE = ("high", "urgent")
_PRIORITY: dict[str, tuple[str, ...]] = {
    "高优先级": HIGH_AND_ABOVE,
    "优先级高": HIGH_AND_ABOVE,
    "优先级为高": HIGH_AND_ABOVE,
    "高优": HIGH_AND_ABOVE,
    "high priority": HIGH_AND_ABOVE,
    "high-priority": HIGH_AND_ABOVE,
    "high": HIGH_AND_ABOVE,
    "priority high": HIGH_AND_ABOVE,
    "只看高优先级": ("high",),
    "仅高优先级": ("high",),
    "只要高优先级": ("high",),
    "only high priority": ("high",),
    "only high": ("high",),
    "just high": ("high",),
    "high only": ("high",),
    "紧急": ("urgent",),
    "加急": ("urgent",),
    "特急": ("urgent",),
    "urgent": ("urgent",),
    "critical": ("urgent",),
    "中优先级": ("medium",),
    "优先级中": ("medium",),
    "中等优先级": ("medium",),
    "medium priority": ("medium",),
    "medium": ("medium",),
    "normal priority": ("medium",),
    "低优先级": ("low",),
    "优先级低": ("low",),
    "低优": ("low",),
    "low priority": ("low",),
    "low": ("low",),
}
_NODE_SYNONYMS: dict[str, tuple[str, ...]] = {
    "派单员指派工程师": (
        "待派单",
        "待指派",
        "未派单",
        "派单",
        "指派工程师",
        "awaiting dispatch",
        "to be dispatched",
        "dispatch",
    ),
    "工程师已接单": ("已接单", "接单", "accepted"),
    "远程诊断": ("远程", "remote diagnosis", "remote"),
    "上门巡检": (
        "待上门",
        "上门",
        "巡检",
        "现场巡检",
        "on-site inspection",
        "onsite inspection",
        "on-site visit",
        "site visit",
        "awaiting visit",
        "waiting for a visit",
        "waiting for visit",
        "inspection",
    ),
    "备件申请": (
        "等备件",
        "待备件",
        "缺件",
        "缺备件",
        "备件",
        "waiting for parts",
        "waiting for spare parts",
        "awaiting parts",
        "spare parts",
        "parts",
    ),
    "现场维修": ("维修中", "on-site repair", "onsite repair", "repair"),
    "服务报告": ("service report",),
    "客户评价": ("待评价", "评价", "customer rating", "rating"),
    "回访": ("follow-up call", "follow up call", "callback"),
    "已完成": ("completed",),
}
# Every node by its own name too, except 新建 (it reads as "created", see the module notes).
_NODE: dict[str, str] = {name: name for name in TICKET_NODES if name != "新建"}
_NODE.update({syn: node for node, syns in _NODE_SYNONYMS.items() for syn in syns})
_ASSIGNEE: dict[str, str] = {
    "我的": "me",
    "我负责的": "me",
    "我处理的": "me",
    "分给我的": "me",
    "派给我的": "me",
    "分配给我的": "me",
    "指派给我的": "me",
    "给我的": "me",
    "my": "me",
    "mine": "me",
    "assigned to me": "me",
    "未分配": "unassigned",
    "未指派处理人": "unassigned",
    "没人处理": "unassigned",
    "无人处理": "unassigned",
    "没有处理人": "unassigned",
    "无处理人": "unassigned",
    "unassigned": "unassigned",
    "not assigned": "unassigned",
    "no assignee": "unassigned",
}
_SLA = (
    "超时",
    "已超时",
    "超期",
    "逾期",
    "超sla",
    "sla超时",
    "违反sla",
    "过了sla",
    "sla breached",
    "breached sla",
    "breached",
    "breach",
    "overdue",
    "past due",
    "past sla",
    "missed sla",
    "late",
)
_THIS_CUSTOMER = (
    "这个客户",
    "该客户",
    "本客户",
    "此客户",
    "这家客户",
    "这家",
    "this customer",
    "this account",
    "this client",
)
# Words that carry no filter: politeness, question words, object names, the creation-date marker.
_STOP = (
    "工单",
    "查询",
    "查一下",
    "查下",
    "查查",
    "看看",
    "看一下",
    "看下",
    "帮我",
    "给我",
    "列出",
    "列一下",
    "列下",
    "显示",
    "展示",
    "有哪些",
    "哪些",
    "有什么",
    "什么",
    "所有",
    "全部",
    "一下",
    "或者",
    "还有",
    "找一下",
    "找出",
    "出来",
    "状态",
    "优先级",
    "节点",
    "流程",
    "处理人",
    "客户",
    "设备",
    "创建",
    "新建",
    "提交",
    "报修",
    "以来",
    "那边",
    "这边",
    "相关",
    "关于",
    "情况",
    "多少",
    "几个",
    "目前",
    "现在",
    "当前",
    "我要",
    "想看",
    "麻烦",
    "一共",
    "中的",
    "里的",
    "下的",
    "及以上",
    "以上",
    "阶段",
    "并且",
    "而且",
    "同时",
    "其他",
    "其它",
    "tickets",
    "ticket",
    "show",
    "list",
    "find",
    "get",
    "give",
    "me",
    "all",
    "the",
    "a",
    "an",
    "of",
    "for",
    "with",
    "which",
    "what",
    "are",
    "is",
    "that",
    "in",
    "on",
    "at",
    "to",
    "and",
    "or",
    "any",
    "please",
    "there",
    "do",
    "we",
    "have",
    "has",
    "i",
    "about",
    "created",
    "opened",
    "raised",
    "submitted",
    "status",
    "priority",
    "node",
    "customer",
    "account",
    "device",
    "by",
    "still",
    "currently",
    "now",
    "how",
    "many",
    "were",
    "was",
    "be",
    "been",
    "whose",
    "where",
    "sla",
    "stage",
    "than",
    "more",
    "cases",
    "case",
    "stuck",
    "from",
    "can",
    "you",
)
# One-character fillers: only stripped at the edges of what is left, and "的" splits, so that a
# customer name containing one of them ("有限公司", "仁和") stays whole.
_FILLER_CHARS = "的吗呢了啊吧和与及或且是有都也找请查个条还在共"
_DATE = r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"
_CN_NUM = {
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
    "十": 10,
    "十四": 14,
    "十五": 15,
    "三十": 30,
}
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*\d[A-Za-z0-9_-]*|\d+[A-Za-z][A-Za-z0-9_-]*")


def _ymd(m: re.Match[str], i: int = 1) -> dt.date | None:
    try:
        return dt.date(int(m.group(i)), int(m.group(i + 1)), int(m.group(i + 2)))
    except ValueError:
        return None


def _month_range(year: int, month: int) -> tuple[dt.date, dt.date]:
    first = dt.date(year, month, 1)
    nxt = dt.date(year + (month == 12), month % 12 + 1, 1)
    return first, nxt - dt.timedelta(days=1)


def _relative_ranges(today: dt.date) -> dict[str, tuple[dt.date, dt.date]]:
    monday = today - dt.timedelta(days=today.weekday())
    last_month_end = today.replace(day=1) - dt.timedelta(days=1)
    this_month = _month_range(today.year, today.month)
    last_month = _month_range(last_month_end.year, last_month_end.month)
    this_week = (monday, monday + dt.timedelta(days=6))
    last_week = (monday - dt.timedelta(days=7), monday - dt.timedelta(days=1))
    yesterday = today - dt.timedelta(days=1)
    out = {
        "今天": (today, today),
        "今日": (today, today),
        "today": (today, today),
        "昨天": (yesterday, yesterday),
        "昨日": (yesterday, yesterday),
        "yesterday": (yesterday, yesterday),
        "本周": this_week,
        "这周": this_week,
        "这一周": this_week,
        "this week": this_week,
        "上周": last_week,
        "上一周": last_week,
        "上个星期": last_week,
        "last week": last_week,
        "本月": this_month,
        "这个月": this_month,
        "当月": this_month,
        "this month": this_month,
        "上月": last_month,
        "上个月": last_month,
        "last month": last_month,
        "今年": (dt.date(today.year, 1, 1), dt.date(today.year, 12, 31)),
        "this year": (dt.date(today.year, 1, 1), dt.date(today.year, 12, 31)),
    }
    return out


def _is_ascii_word(phrase: str) -> bool:
    return phrase.isascii() and any(ch.isalpha() for ch in phrase)


def _phrase_regex(phrases: list[str]) -> re.Pattern[str]:
    parts = []
    for p in sorted(set(phrases), key=lambda x: (-len(x), x)):
        body = re.escape(p).replace(r"\ ", r"\s+")
        # English words need boundaries ("my" is not in "mystery"); Chinese has none to need.
        parts.append(rf"(?<![A-Za-z]){body}(?![A-Za-z])" if _is_ascii_word(p) else body)
    return re.compile("|".join(parts), re.IGNORECASE)


class _Text:
    """The normalised text with a mask of the characters already understood."""

    def __init__(self, raw: str) -> None:
        self.s = unicodedata.normalize("NFKC", raw)
        self.used = [False] * len(self.s)

    def free(self, a: int, b: int) -> bool:
        return not any(self.used[a:b])

    def take(self, pattern: re.Pattern[str], on_match: Callable[[re.Match[str]], bool | None]) -> None:
        for m in pattern.finditer(self.s):
            if m.end() > m.start() and self.free(m.start(), m.end()) and on_match(m) is not False:
                for i in range(m.start(), m.end()):
                    self.used[i] = True

    def leftovers(self) -> list[str]:
        """Runs of characters not yet understood (letters, digits, CJK; "-" and "_" inside a run)."""
        out: list[str] = []
        cur: list[str] = []
        for ch, used in [*zip(self.s, self.used, strict=True), (" ", True)]:
            if used or not (ch.isalnum() or ch in "-_"):
                word = "".join(cur).strip("-_")
                if word:
                    out.append(word)
                cur = []
            else:
                cur.append(ch)
        return out


def parse(text: str, *, today: dt.date, resolver: Resolver) -> ParsedQuery:
    pq = ParsedQuery()
    t = _Text(text)
    status: set[str] = set()
    priority: set[str] = set()
    nodes: set[str] = set()
    ranges: list[tuple[dt.date | None, dt.date | None]] = []
    account_ids: dict[int, str] = {}
    serials: set[str] = set()
    codes: set[str] = set()
    numbers: set[str] = set()

    # 1. Dates first: they contain digits that would otherwise look like serials.
    def between(m: re.Match[str]) -> bool:
        a, b = _ymd(m, 1), _ymd(m, 4)
        if a is None or b is None:
            return False
        ranges.append((min(a, b), max(a, b)))
        return True

    t.take(re.compile(rf"(?:between\s+|从)?{_DATE}\s*(?:到|至|~|—|-|and|to|until)\s*{_DATE}", re.I), between)

    def since(m: re.Match[str]) -> bool:
        d = _ymd(m, 1)
        if d is None:
            return False
        ranges.append((d, today))
        return True

    t.take(re.compile(rf"(?:since|from|after|自|从){{1}}\s*{_DATE}(?:\s*(?:以来|以后|之后|起|开始))?", re.I), since)
    t.take(re.compile(rf"{_DATE}\s*(?:以来|以后|之后|起|开始)"), since)

    def before(m: re.Match[str]) -> bool:
        d = _ymd(m, 1)
        if d is None:
            return False
        ranges.append((None, d - dt.timedelta(days=1)))
        return True

    t.take(re.compile(rf"before\s*{_DATE}", re.I), before)
    t.take(re.compile(rf"{_DATE}\s*(?:之前|以前)"), before)

    def single(m: re.Match[str]) -> bool:
        d = _ymd(m, 1)
        if d is None:
            return False
        ranges.append((d, d))
        return True

    t.take(re.compile(_DATE), single)

    def last_n(m: re.Match[str]) -> bool:
        raw = m.group("n")
        n = int(raw) if raw.isdigit() else _CN_NUM.get(raw, 0)
        unit = (m.group("unit") or "").lower()
        if unit in ("周", "星期", "week", "weeks"):
            n *= 7
        elif unit in ("个月", "月", "month", "months"):
            n *= 30
        if n <= 0:
            return False
        ranges.append((today - dt.timedelta(days=n - 1), today))
        return True

    t.take(
        re.compile(
            r"(?:最近|近|过去|last|past)\s*(?P<n>\d+|三十|十五|十四|[一二两三四五六七八九十])\s*"
            r"(?P<unit>天|日|周|星期|个月|月|days?|weeks?|months?)",
            re.I,
        ),
        last_n,
    )
    t.take(re.compile(r"(?:最近|近)(?P<n>一)(?P<unit>周|个月)"), last_n)
    rel = _relative_ranges(today)
    rel_words = _phrase_regex(list(rel)).pattern

    def since_relative(m: re.Match[str]) -> bool:
        start = rel[_key(m.group("rel"), rel)][0]
        return _append(ranges, (start, today))

    # "上周以来" / "since last week": from the start of that period up to today.
    t.take(re.compile(rf"(?P<rel>{rel_words})\s*(?:以来|至今|起|开始)", re.I), since_relative)
    t.take(re.compile(rf"since\s+(?P<rel>{rel_words})", re.I), since_relative)
    t.take(_phrase_regex(list(rel)), lambda m: _append(ranges, rel[_key(m.group(0), rel)]))

    # 2. Vocabulary.
    t.take(_phrase_regex(list(_THIS_CUSTOMER)), lambda m: _this_customer(pq, resolver, m.group(0)))
    t.take(_phrase_regex(list(_PRIORITY)), lambda m: _update(priority, _PRIORITY[_key(m.group(0), _PRIORITY)]))
    t.take(
        _phrase_regex(list(_ASSIGNEE)), lambda m: _set(pq.filters, "assignee", _ASSIGNEE[_key(m.group(0), _ASSIGNEE)])
    )
    t.take(_phrase_regex(list(_SLA)), lambda m: _set(pq.filters, "sla_breached", True))
    t.take(_phrase_regex(list(_NODE)), lambda m: _update(nodes, [_NODE[_key(m.group(0), _NODE)]]))
    t.take(_phrase_regex(list(_STATUS)), lambda m: _update(status, _STATUS[_key(m.group(0), _STATUS)]))

    # 3. Ticket numbers and device serials (exact, through the resolver), then product codes.
    def token(m: re.Match[str]) -> bool:
        number = resolver.ticket_number(m.group(0))
        if number:
            numbers.add(number)
            return True
        serial = resolver.device_serial(m.group(0))
        if serial:
            serials.add(serial)
            return True
        return False

    t.take(_TOKEN, token)
    # Product codes from the catalogue, hyphen optional ("LC3015" = "LC-3015").
    catalogue = {re.sub(r"[-\s]", "", c).upper(): c for c in resolver.product_codes()}
    if catalogue:
        code_re = re.compile(
            "|".join(
                rf"(?<![A-Za-z0-9]){'-?'.join(re.escape(ch) for ch in key)}(?![A-Za-z0-9])"
                for key in sorted(catalogue, key=len, reverse=True)
            ),
            re.I,
        )
        t.take(code_re, lambda m: _update(codes, [catalogue[re.sub(r"[-\s]", "", m.group(0)).upper()]]))

    t.take(_phrase_regex(list(_STOP)), lambda m: True)

    # 4. What is left: a customer name, or words we did not understand.
    for chunk in t.leftovers():
        for piece in chunk.split("的"):
            piece = piece.strip(_FILLER_CHARS)
            if not piece:
                continue
            if not piece.isascii() and len(piece) >= 2:
                found = _match_account(resolver, piece)
                if found:
                    account_ids.update(found)
                    continue
            rest = [w for w in re.split(f"[{_FILLER_CHARS}]+", piece) if w]
            pq.not_understood.extend(rest)

    if status:
        pq.filters["status"] = [s for s in TICKET_STATUSES if s in status]
    if priority:
        pq.filters["priority"] = [p for p in TICKET_PRIORITIES if p in priority]
    if nodes:
        pq.filters["process_node"] = [n for n in TICKET_NODES if n in nodes]
    if account_ids or "account_ids" in pq.filters:
        pq.filters["account_ids"] = sorted(set(pq.filters.get("account_ids", [])) | set(account_ids))
        pq.matched_accounts = sorted(account_ids.items())
    if serials:
        pq.filters["device_serials"] = sorted(serials)
    if codes:
        pq.filters["product_codes"] = sorted(codes)
    if numbers:
        pq.filters["numbers"] = sorted(numbers)
    if ranges:
        pq.filters["created"] = _merge_ranges(ranges)
    return pq


def _update(target: set[str], values: Any) -> bool:
    target.update(values)
    return True


def _append(target: list[Any], value: Any) -> bool:
    target.append(value)
    return True


def _set(target: dict[str, Any], key: str, value: Any) -> bool:
    target[key] = value
    return True


def _key(matched: str, table: dict[str, Any]) -> str:
    """The vocabulary key for a regex match (case and inner whitespace may differ)."""
    norm = " ".join(matched.lower().split())
    if norm in table:
        return norm
    return next(k for k in table if " ".join(k.lower().split()) == norm)


def _this_customer(pq: ParsedQuery, resolver: Resolver, phrase: str) -> bool:
    if resolver.page_account_id is None:
        # There is no page customer to bind to: say so rather than list every customer's tickets.
        pq.notes.append("this_customer_without_page")
        pq.not_understood.append(phrase)
        return True
    pq.filters.setdefault("account_ids", [])
    if resolver.page_account_id not in pq.filters["account_ids"]:
        pq.filters["account_ids"].append(resolver.page_account_id)
    return True


_NAME_SUFFIXES = ("股份有限公司", "有限公司", "集团", "公司", "医院")


def _match_account(resolver: Resolver, chunk: str) -> dict[int, str]:
    """Visible accounts whose name contains the chunk (or the chunk without a company suffix)."""
    tries = [chunk] + [chunk[: -len(s)] for s in _NAME_SUFFIXES if chunk.endswith(s) and len(chunk) - len(s) >= 2]
    for candidate in tries:
        found = resolver.accounts(candidate)
        if found:
            return dict(found)
    return {}


def _merge_ranges(ranges: list[tuple[dt.date | None, dt.date | None]]) -> dict[str, str]:
    """Several date phrases: the span that covers them all."""
    starts = [a for a, _ in ranges]
    ends = [b for _, b in ranges]
    out: dict[str, str] = {}
    if all(a is not None for a in starts):
        out["from"] = min(a for a in starts if a is not None).isoformat()
    if all(b is not None for b in ends):
        out["to"] = max(b for b in ends if b is not None).isoformat()
    return out
