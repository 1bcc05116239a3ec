"""The words every lookup shares: who ("mine", a colleague's name), when (dates, periods, durations), how
much (amounts), which customer (names, city, region, industry, tier), which product — and what is left.

One module, so that ticket_lookup and record_lookup read "上周", "超过一周", "50万以上", "我名下" and
"华东重工" the same way. Pure apart from the ``Names`` it is given (the skill's is bound to the asker's
permissions through ``ctx.records``). Vocabulary is data: ``skills/vocab/lookup_common.yaml``.

The text is read left to right into a mask of understood characters (``Text``); each step takes the
phrases it knows and marks them. Whatever is left is looked up as a name (``resolve_leftovers``) and, if
it is not one, reported as not understood — never dropped: a lookup with a word it did not understand
returns no rows rather than more rows than were asked for.

Decisions (shared by both lookups and their evaluation cases):

* Weeks start on Monday; 本周/this week, 本月/this month, 本季度, 今年 are whole calendar periods.
  最近N天 / last N days / N天内 / within N days is the N days ending today.
* A period reaching outside the calendar (最近 800000 天) is clamped to the first/last representable day:
  what the words ask (everything since ever), not a crash.
* 超过一周 / 一周以上 / more than a week / older than 3 days: older than that, measured from now.
* Amounts: 超过/over/above is strictly greater, 以上/or more is at least; 以下/under is at most / below;
  50万 = 500000, 1.2m = 1200000, 300k = 300000.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import yaml

VOCAB_DIR = Path(__file__).parent / "vocab"


@lru_cache(maxsize=16)
def vocab(name: str) -> dict[str, Any]:
    """``skills/vocab/<name>.yaml``, loaded once."""
    return dict(yaml.safe_load((VOCAB_DIR / f"{name}.yaml").read_text(encoding="utf-8")) or {})


def common() -> dict[str, Any]:
    return vocab("lookup_common")


def norm(phrase: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", str(phrase)).lower().split())


# --- the text and its mask ------------------------------------------------------------------------


def _is_ascii_word(phrase: str) -> bool:
    return phrase.isascii() and any(ch.isalnum() for ch in phrase)


def phrase_regex(phrases: Iterable[str]) -> re.Pattern[str]:
    """Longest phrase first; English words need boundaries ("my" is not in "mystery"), Chinese has none."""
    parts = []
    for p in sorted({str(x) for x in phrases if str(x).strip()}, key=lambda x: (-len(x), x)):
        body = re.escape(p).replace(r"\ ", r"\s+")
        if _is_ascii_word(p):
            left = r"(?<![A-Za-z0-9])" if p[0].isalnum() else ""
            right = r"(?![A-Za-z0-9])" if p[-1].isalnum() else ""
            parts.append(f"{left}{body}{right}")
        else:
            parts.append(body)
    return re.compile("|".join(parts) if parts else r"(?!x)x", re.IGNORECASE)


class Table:
    """A ``{key: [phrases]}`` vocabulary as one regex and a phrase → key map."""

    def __init__(self, mapping: Mapping[Any, Iterable[str]]) -> None:
        self.key: dict[str, Any] = {}
        for k, phrases in mapping.items():
            for p in phrases:
                self.key.setdefault(norm(p), k)
        self.regex = phrase_regex(str(p) for phrases in mapping.values() for p in phrases)

    def lookup(self, matched: str) -> Any:
        return self.key.get(norm(matched))

    def exact(self, chunk: str) -> Any:
        return self.key.get(norm(chunk))


class Text:
    """The normalised text with a mask of the characters already understood."""

    def __init__(self, raw: str) -> None:
        s = unicodedata.normalize("NFKC", raw)
        # "customer's" → "customer  ": the possessive carries no filter (same length keeps the mask aligned).
        self.s = re.sub(r"(?<=[A-Za-z])['’]s(?![A-Za-z])", "  ", s)
        self.used = [False] * len(self.s)

    def free(self, a: int, b: int) -> bool:
        return not any(self.used[a:b])

    def mark(self, a: int, b: int) -> None:
        for i in range(a, b):
            self.used[i] = True

    def take(self, pattern: re.Pattern[str], on_match: Callable[[re.Match[str]], bool | None]) -> None:
        """Each free match of ``pattern`` is offered to ``on_match``; unless it says False, it is understood."""
        # Search each run of characters not yet understood on its own, so a long phrase reaching into
        # understood text ("A类客户" when 客户 is taken) does not hide a shorter one ("A类").
        for a, b in self._free_runs():
            pos = a
            while pos < b:
                m = pattern.search(self.s, pos, b)
                if m is None:
                    break
                if m.end() > m.start() and self.free(m.start(), m.end()) and on_match(m) is not False:
                    self.mark(m.start(), m.end())
                    pos = m.end()
                else:
                    pos = m.start() + 1

    def _free_runs(self) -> list[tuple[int, int]]:
        runs: list[tuple[int, int]] = []
        start: int | None = None
        for i, used in enumerate([*self.used, True]):
            if not used and start is None:
                start = i
            elif used and start is not None:
                runs.append((start, i))
                start = None
        return runs

    def take_phrases(self, table: Table, on_key: Callable[[Any, re.Match[str]], bool | None]) -> None:
        self.take(table.regex, lambda m: on_key(table.lookup(m.group(0)), m))

    def leftovers(self) -> list[str]:
        """Runs of characters not yet understood (letters, digits, CJK; "-", "_", "." inside a run)."""
        out: list[str] = []
        cur: list[str] = []
        for ch, used in [*zip(self.s, self.used, strict=True), (" ", True)]:
            if used or not (ch.isalnum() or ch in "-_."):
                word = "".join(cur).strip("-_.")
                if word:
                    out.append(word)
                cur = []
            else:
                cur.append(ch)
        return out

    def has(self, table: Table, *, negations: Iterable[str] = ()) -> bool:
        """Whether a phrase of ``table`` occurs (used or not) and is not negated ("未解决" is no resolution)."""
        negs = sorted({str(n) for n in negations}, key=len, reverse=True)
        for m in table.regex.finditer(self.s):
            before = self.s[max(0, m.start() - 3) : m.start()].lower().rstrip()
            if not any(before.endswith(n.lower()) for n in negs):
                return True
        return False


# --- numbers --------------------------------------------------------------------------------------

_CN_DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "俩": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_CN_UNITS = {"十": 10, "百": 100, "千": 1000}
_EN_NUMBERS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "fourteen": 14,
    "fifteen": 15,
    "twenty": 20,
    "thirty": 30,
    "sixty": 60,
    "ninety": 90,
    "a couple of": 2,
    "a few": 3,
}
NUMBER = r"\d+(?:\.\d+)?|[零〇一二两俩三四五六七八九十百千]+|" + "|".join(
    rf"\b{w}\b" for w in sorted(_EN_NUMBERS, key=len, reverse=True)
)


def to_number(raw: str) -> Decimal | None:
    """'12', '1.5', '十五', '二十', '一百二', 'three' → the number (None when it is not one)."""
    raw = raw.strip().lower()
    if not raw:
        return None
    if re.fullmatch(r"\d+(?:\.\d+)?", raw):
        try:
            return Decimal(raw)
        except InvalidOperation:
            return None
    if raw in _EN_NUMBERS:
        return Decimal(_EN_NUMBERS[raw])
    total, digit = 0, None
    for ch in raw:
        if ch in _CN_DIGITS:
            digit = _CN_DIGITS[ch]
        elif ch in _CN_UNITS:
            total += (1 if digit is None else digit) * _CN_UNITS[ch]
            digit = None
        else:
            return None
    return Decimal(total + (digit or 0))


# --- dates ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    start: dt.date | None
    end: dt.date | None


def shift(day: dt.date, days: int) -> dt.date:
    """``day + days``, clamped to the calendar (最近 800000 天 reaches back to year 1, not an OverflowError)."""
    try:
        return day + dt.timedelta(days=days)
    except OverflowError:
        return dt.date.min if days < 0 else dt.date.max


def _month(year: int, month: int) -> Period:
    first = dt.date(year, month, 1)
    nxt = dt.date(year + (month == 12), month % 12 + 1, 1)
    return Period(first, nxt - dt.timedelta(days=1))


def _quarter(year: int, q: int) -> Period:
    start = _month(year, 3 * q + 1).start
    end = _month(year, 3 * q + 3).end
    return Period(start, end)


def relative(key: str, today: dt.date) -> Period:
    monday = today - dt.timedelta(days=today.weekday())
    q = (today.month - 1) // 3
    prev_month_end = today.replace(day=1) - dt.timedelta(days=1)
    this_month_end = _month(today.year, today.month).end
    assert this_month_end is not None
    next_month_start = this_month_end + dt.timedelta(days=1)
    table: dict[str, Callable[[], Period]] = {
        "today": lambda: Period(today, today),
        "yesterday": lambda: Period(today - dt.timedelta(days=1), today - dt.timedelta(days=1)),
        "tomorrow": lambda: Period(today + dt.timedelta(days=1), today + dt.timedelta(days=1)),
        "this_week": lambda: Period(monday, monday + dt.timedelta(days=6)),
        "last_week": lambda: Period(monday - dt.timedelta(days=7), monday - dt.timedelta(days=1)),
        "next_week": lambda: Period(monday + dt.timedelta(days=7), monday + dt.timedelta(days=13)),
        "this_month": lambda: _month(today.year, today.month),
        "last_month": lambda: _month(prev_month_end.year, prev_month_end.month),
        "next_month": lambda: _month(next_month_start.year, next_month_start.month),
        "this_quarter": lambda: _quarter(today.year, q),
        "last_quarter": lambda: _quarter(today.year - (q == 0), (q - 1) % 4),
        "next_quarter": lambda: _quarter(today.year + (q == 3), (q + 1) % 4),
        "this_year": lambda: Period(dt.date(today.year, 1, 1), dt.date(today.year, 12, 31)),
        "last_year": lambda: Period(dt.date(today.year - 1, 1, 1), dt.date(today.year - 1, 12, 31)),
    }
    return table[key]()


_DATE = r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*[日号]?"


def _ymd(m: re.Match[str], i: int = 1) -> dt.date | None:
    try:
        return dt.date(int(m.group(i)), int(m.group(i + 1)), int(m.group(i + 2)))
    except (ValueError, OverflowError):
        return None


def _alts(phrases: Iterable[str]) -> str:
    return phrase_regex(phrases).pattern


@lru_cache(maxsize=1)
def _units() -> Table:
    return Table({int(k): v for k, v in common()["units"].items()})


def _unit_days(raw: str) -> int:
    return int(_units().lookup(raw) or 1)


@dataclass
class When:
    """The date phrases of a request: periods (to be bound to a date field) and an age ("older than")."""

    periods: list[Period] = field(default_factory=list)
    older_than_days: int | None = None


def take_dates(t: Text, today: dt.date) -> When:
    """Absolute dates, ranges, "since", "before", last/within N units, "older than", relative periods."""
    c = common()
    w = When()
    num = f"(?P<n>{NUMBER})"
    unit = f"(?P<unit>{_units().regex.pattern})"

    def add(p: Period) -> bool:
        w.periods.append(p)
        return True

    def between(m: re.Match[str]) -> bool:
        a, b = _ymd(m, 1), _ymd(m, 4)
        return False if a is None or b is None else add(Period(min(a, b), max(a, b)))

    t.take(re.compile(rf"(?:between\s+|从)?{_DATE}\s*(?:到|至|~|—|-|and|to|until)\s*{_DATE}", re.I), between)

    def since(m: re.Match[str]) -> bool:
        d = _ymd(m, 1)
        return False if d is None else add(Period(d, today))

    t.take(re.compile(rf"(?:since|from|after|自|从)\s*{_DATE}(?:\s*(?:以来|以后|之后|起|开始))?", re.I), since)
    t.take(re.compile(rf"{_DATE}\s*(?:以来|以后|之后|起|开始)"), since)

    def before(m: re.Match[str]) -> bool:
        d = _ymd(m, 1)
        return False if d is None else add(Period(None, shift(d, -1)))

    t.take(re.compile(rf"before\s*{_DATE}", re.I), before)
    t.take(re.compile(rf"{_DATE}\s*(?:之前|以前)"), before)

    def single(m: re.Match[str]) -> bool:
        d = _ymd(m, 1)
        return False if d is None else add(Period(d, d))

    t.take(re.compile(_DATE), single)

    def days_of(m: re.Match[str]) -> int | None:
        n = to_number(m.group("n"))
        if n is None or n <= 0:
            return None
        try:
            return int(n * _unit_days(m.group("unit")))
        except (OverflowError, ValueError):
            return None

    def last_n(m: re.Match[str]) -> bool:
        days = days_of(m)
        return False if days is None else add(Period(shift(today, -(days - 1)), today))

    def older(m: re.Match[str]) -> bool:
        days = days_of(m)
        if days is None:
            return False
        w.older_than_days = days
        return True

    gap = r"\s*(?:个)?\s*"
    older_pre, older_suf = _alts(c["older_prefix"]), _alts(c["older_suffix"])
    t.take(re.compile(rf"(?:{older_pre})\s*{num}{gap}{unit}(?:\s*(?:{older_suf}))?", re.I), older)
    t.take(re.compile(rf"{num}{gap}{unit}\s*(?:{older_suf})", re.I), older)
    t.take(re.compile(rf"{num}\s*\+\s*{unit}", re.I), older)
    t.take(re.compile(rf"{num}{gap}{unit}\s+(?:{_alts(c['older_after'])})", re.I), older)
    # "三天没处理 / 一个月没跟进": for that long without — older than that.
    t.take(re.compile(rf"(?<![\d.]){num}{gap}{unit}(?=\s*(?:都没|还没|没有|没|未|不))", re.I), older)
    t.take(re.compile(rf"(?:{_alts(c['last_n'])})\s*{num}{gap}{unit}", re.I), last_n)
    # "这两周 / 这三天": these N units, the N ending today ("这一周" stays the calendar week below).
    t.take(
        re.compile(rf"(?:{_alts(c['these_n'])})\s*{num}{gap}{unit}", re.I),
        lambda m: (to_number(m.group("n")) or 0) > 1 and last_n(m),
    )
    t.take(
        re.compile(rf"(?:{_alts(c['within_prefix'])})\s*(?:the\s+)?(?:last\s+|past\s+)?{num}{gap}{unit}", re.I), last_n
    )
    t.take(re.compile(rf"{num}{gap}{unit}\s*(?:{_alts(c['within_suffix'])})", re.I), last_n)
    # "最近一周 / 近一个月 / the past week": one unit.
    t.take(
        re.compile(rf"(?:{_alts(c['one_unit'])})\s*(?:个)?{unit}", re.I),
        lambda m: add(Period(shift(today, -(_unit_days(m.group("unit")) - 1)), today)),
    )

    def month(m: re.Match[str]) -> bool:
        n = int(to_number(m.group("m")) or 0) if m.group("m") else int(months.lookup(m.group("name")))
        year = int(m.group("y")) if m.group("y") else today.year
        if not 1 <= n <= 12 or not dt.MINYEAR <= year <= dt.MAXYEAR:
            return False
        return add(_month(year, n))

    months = Table({int(k): v for k, v in c["months"].items()})
    t.take(re.compile(r"(?:(?P<y>\d{4})\s*年\s*)?(?<!\d)(?P<m>1[0-2]|0?[1-9])\s*月份?(?!\s*\d)(?P<name>)"), month)
    # "十月份 / 十二月": a month in Chinese numerals — not a count of months ("三个月", "近三月", "这两月").
    t.take(
        re.compile(
            r"(?<![个近这过上下本每前后几两数])(?P<m>十[一二]?|[一二三四五六七八九])\s*月份?(?![\d内以之前后底初中])(?P<y>)(?P<name>)"
        ),
        month,
    )
    t.take(re.compile(rf"(?:in\s+)?(?P<name>{months.regex.pattern})(?:\s+(?P<y>\d{{4}}))?(?P<m>)", re.I), month)

    def quarter(m: re.Match[str]) -> bool:
        n = int(to_number(m.group("q") or m.group("qz")) or 0)
        year = int(m.group("y") or m.group("y2") or today.year)
        if not 1 <= n <= 4 or not dt.MINYEAR <= year <= dt.MAXYEAR:
            return False
        return add(_quarter(year, n - 1))

    # A named calendar quarter of this year unless one is given: "Q4", "2027 Q1", "第四季度", "四季度".
    t.take(
        re.compile(
            r"(?:(?P<y>\d{4})\s*(?:年\s*)?)?(?<![A-Za-z0-9])(?:q(?P<q>[1-4])|第?(?P<qz>[一二三四1-4])季度)(?![A-Za-z0-9])"
            r"(?:\s+(?P<y2>\d{4}))?",
            re.I,
        ),
        quarter,
    )

    rel = Table(c["relative_dates"])
    rel_words = rel.regex.pattern

    def since_relative(m: re.Match[str]) -> bool:
        start = relative(rel.lookup(m.group("rel")), today).start
        return add(Period(start, today))

    # "上周以来" / "since last week": from the start of that period up to today.
    t.take(re.compile(rf"(?P<rel>{rel_words})\s*(?:以来|至今|起|开始|到现在)", re.I), since_relative)
    t.take(re.compile(rf"since\s+(?P<rel>{rel_words})", re.I), since_relative)
    t.take(rel.regex, lambda m: add(relative(rel.lookup(m.group(0)), today)))
    return w


def merge(periods: list[Period]) -> dict[str, str]:
    """Several date phrases: the span that covers them all, as ``{"from", "to"}`` (either may be absent)."""
    out: dict[str, str] = {}
    if periods and all(p.start is not None for p in periods):
        out["from"] = min(p.start for p in periods if p.start is not None).isoformat()
    if periods and all(p.end is not None for p in periods):
        out["to"] = max(p.end for p in periods if p.end is not None).isoformat()
    return out


def day_bounds(span: Mapping[str, str]) -> tuple[dt.datetime | None, dt.datetime | None]:
    """An inclusive ``{"from", "to"}`` day span as datetimes: [from 00:00, to 23:59:59.999999]."""
    lo = dt.datetime.combine(dt.date.fromisoformat(span["from"]), dt.time.min) if "from" in span else None
    hi = dt.datetime.combine(dt.date.fromisoformat(span["to"]), dt.time.max) if "to" in span else None
    return lo, hi


def ago(now: dt.datetime, days: int) -> dt.datetime:
    try:
        return now - dt.timedelta(days=days)
    except OverflowError:
        return dt.datetime.min


# --- amounts ------------------------------------------------------------------------------------------


def take_asker(t: Text, lang: str) -> bool:
    """A bare "我" (``lang="zh"``, once the other words are read) or English "I" before a verb of doing
    (``lang="en"``, read first: the verb must still be there to see): the asker is the subject ("我上个月解决了
    哪些", "tickets I closed") — it binds like "mine" instead of being dropped as filler."""
    spec = common()["asker_subject"]
    not_before = "|".join(re.escape(w) for w in sorted(spec["not_before"], key=len, reverse=True))
    not_after = "".join(f"(?<!{re.escape(w)})" for w in spec["not_after"])
    verbs = "|".join(re.escape(w) for w in sorted(spec["en_verbs"], key=len, reverse=True))
    hit: list[bool] = []

    def on(m: re.Match[str]) -> bool:
        hit.append(True)
        return True

    if lang == "zh":
        t.take(re.compile(rf"{not_after}{re.escape(spec['zh'])}(?!\s*(?:{not_before}))"), on)
        after = "|".join(["^", *(f"(?<={re.escape(w)})" for w in spec["bare_after"])])
        markers = "|".join(re.escape(w) for w in sorted(spec["bare_markers"], key=len, reverse=True))
        t.take(re.compile(rf"(?:{after})(?:{markers})"), on)
    else:
        t.take(re.compile(rf"(?<![A-Za-z'])i(?=(?:\s+(?:{verbs})|'m)(?![A-Za-z]))", re.I), on)
    return bool(hit)


def take_team(t: Text) -> bool:
    """ "我团队 / my team": the asker and everyone below them in the line-manager chain."""
    hit: list[bool] = []
    t.take(phrase_regex(common()["team"]), lambda m: hit.append(True) or True)  # type: ignore[func-returns-value]
    return bool(hit)


def take_amounts(t: Text) -> dict[str, str]:
    """ "超过50万 / over 500k / 100万以上 / under 1m" → {"gt"|"ge"|"lt"|"le": "500000"} (yuan, as strings)."""
    c = common()
    units = Table({int(k): v for k, v in c["amount_units"].items()})
    cur = _alts(c["currency"])
    num = r"(?P<n>\d+(?:[.,]\d+)*|[零〇一二两三四五六七八九十百千]+)"
    # A unit right after the digits ("300k", "50万"): no left word boundary, a right one for Latin units.
    unit_alts = "|".join(
        re.escape(u) + (r"(?![A-Za-z])" if u.isascii() else "")
        for u in sorted({str(x) for v in c["amount_units"].values() for x in v}, key=len, reverse=True)
    )
    amount = rf"(?:{cur})?\s*{num}\s*(?P<unit>{unit_alts})?\s*(?:{cur})?"
    out: dict[str, str] = {}

    def value(m: re.Match[str]) -> Decimal | None:
        n = to_number(m.group("n").replace(",", ""))
        if n is None:
            return None
        unit = m.group("unit")
        return n * (int(units.lookup(unit)) if unit else 1)

    def put(op: str) -> Callable[[re.Match[str]], bool]:
        def on(m: re.Match[str]) -> bool:
            v = value(m)
            # A bare small number with no unit and no currency is more likely a count than money.
            if v is None or (not m.group("unit") and v < 1000):
                return False
            out[op] = format(v.normalize(), "f")
            return True

        return on

    t.take(re.compile(rf"(?:{_alts(c['amount_gt'])})\s*{amount}", re.I), put("gt"))
    t.take(re.compile(rf"(?:{_alts(c['amount_lt'])})\s*{amount}", re.I), put("lt"))
    t.take(re.compile(rf"{amount}\s*(?:{_alts(c['amount_ge_suffix'])})", re.I), put("ge"))
    t.take(re.compile(rf"{amount}\s*(?:{_alts(c['amount_le_suffix'])})", re.I), put("le"))
    return out


# --- people and customers -----------------------------------------------------------------------------


class Names(Protocol):
    """Names → ids, among what the asker may read."""

    def accounts(self, fragment: str) -> list[tuple[int, str]]: ...

    def users(self, name: str) -> list[tuple[int, str]]: ...

    def cities(self) -> list[str]: ...

    def regions(self) -> list[str]: ...

    def products(self) -> list[tuple[str, str, str, str]]: ...  # (code, name, name_en, line)


@dataclass
class Found:
    """What the leftovers named. Each lookup uses the kinds it supports and reports the rest."""

    accounts: dict[int, str] = field(default_factory=dict)
    users: dict[int, str] = field(default_factory=dict)
    cities: set[str] = field(default_factory=set)
    regions: set[str] = field(default_factory=set)
    industries: set[str] = field(default_factory=set)
    tiers: set[str] = field(default_factory=set)
    product_codes: set[str] = field(default_factory=set)
    product_lines: set[str] = field(default_factory=set)
    not_understood: list[str] = field(default_factory=list)


_NAME_SUFFIXES = ("股份有限公司", "有限公司", "集团", "公司")


def take_attributes(t: Text, found: Found) -> None:
    """English attribute phrases (industry, tier, product line) anywhere in the text: word boundaries keep
    them out of names. Chinese ones are matched on whole leftover pieces instead ("医院" inside
    "上海浦东仁和医院" is a name, not the industry)."""
    c = common()
    regions = Table(dict(c.get("region_aliases", {})))
    t.take_phrases(regions, lambda k, _m: found.regions.add(k) or True)  # type: ignore[func-returns-value]
    t.take_phrases(Table(c["tiers"]), lambda k, _m: found.tiers.add(k) or True)  # type: ignore[func-returns-value]
    for key, target in (
        ("industries", found.industries),
        ("product_lines", found.product_lines),
    ):
        ascii_only = {k: [p for p in v if p.isascii()] for k, v in c[key].items()}
        t.take_phrases(Table(ascii_only), lambda k, _m, target=target: target.add(k) or True)  # type: ignore[misc]


def resolve_leftovers(t: Text, names: Names, found: Found, *, fillers: str | None = None) -> Found:
    """Each leftover piece is a city, region, industry, tier, customer, colleague or product — or not understood."""
    c = common()
    fill = fillers if fillers is not None else str(c["fillers"])
    industries, tiers, lines = Table(c["industries"]), Table(c["tiers"]), Table(c["product_lines"])
    cities = {norm(x): x for x in names.cities() if x}
    regions = {norm(x): x for x in names.regions() if x}
    region_suffixes = sorted(c["regions_suffix"], key=len, reverse=True)
    for chunk in t.leftovers():
        for piece in chunk.split("的"):
            piece = piece.strip(fill)
            if not piece:
                continue
            if _resolve_piece(piece, names, found, cities, regions, region_suffixes, industries, tiers, lines):
                continue
            # "上海和苏州 / 郑凯或李娜": a list of names joined inside one run — kept only if every part is one.
            parts = [p.strip(fill) for p in re.split(_JOINERS, piece)]
            scratch = Found()
            if len(parts) > 1 and all(
                p and _resolve_piece(p, names, scratch, cities, regions, region_suffixes, industries, tiers, lines)
                for p in parts
            ):
                _absorb(found, scratch)
                continue
            found.not_understood.extend(w for w in re.split(f"[{re.escape(fill)}]+", piece) if w)
    return found


_JOINERS = r"以及|[和与及或跟]"


def _absorb(found: Found, more: Found) -> None:
    found.accounts.update(more.accounts)
    found.users.update(more.users)
    for name in ("cities", "regions", "industries", "tiers", "product_codes", "product_lines"):
        getattr(found, name).update(getattr(more, name))


def _resolve_piece(
    piece: str,
    names: Names,
    found: Found,
    cities: dict[str, str],
    regions: dict[str, str],
    region_suffixes: list[str],
    industries: Table,
    tiers: Table,
    lines: Table,
) -> bool:
    key = norm(piece)
    bare = key.removesuffix("市")
    bare = norm(common().get("city_aliases", {}).get(bare, bare))
    if bare in cities:
        found.cities.add(cities[bare])
        return True
    for suffix in ["", *region_suffixes]:
        if suffix and not key.endswith(norm(suffix)):
            continue
        stem = key[: len(key) - len(norm(suffix))].strip() if suffix else key
        if stem in regions:
            found.regions.add(regions[stem])
            return True
    for table, target in ((industries, found.industries), (tiers, found.tiers)):
        hit = table.exact(piece)
        if hit is not None:
            target.add(str(hit))
            return True
    # A product word before a customer name: "机器人的报修单" is robots, not every company named 机器人.
    codes = match_products(names, piece)
    if codes:
        found.product_codes.update(codes)
        return True
    line = lines.exact(piece)
    if line is not None:
        found.product_lines.add(str(line))
        return True
    if not piece.isascii() and len(piece) >= 2:
        accounts = match_accounts(names, piece)
        if accounts:
            found.accounts.update(accounts)
            return True
    people = names.users(piece) if len(piece) >= 2 else []
    if people:
        found.users.update(people)
        return True
    return False


def match_accounts(names: Names, chunk: str) -> dict[int, str]:
    """Visible accounts whose name contains the chunk (or the chunk without a company suffix)."""
    tries = [chunk] + [chunk[: -len(s)] for s in _NAME_SUFFIXES if chunk.endswith(s) and len(chunk) - len(s) >= 2]
    for candidate in tries:
        found = names.accounts(candidate)
        if found:
            return dict(found)
    return {}


def match_products(names: Names, piece: str) -> set[str]:
    """Catalogue products whose name (zh or en) contains the piece: "生化分析仪" → BA-800, "robot" → RB-20, CR-7.
    Latin pieces must be whole words of the English name ("cloud" in "DeviceCloud" is not enough)."""
    key = norm(piece)
    if len(key) < 2:
        return set()
    out: set[str] = set()
    for code, name, name_en, _line in names.products():
        if key.isascii():
            words = {norm(w) for w in re.split(r"[^A-Za-z0-9-]+", f"{name} {name_en}") if w}
            if key in words or (len(key) >= 4 and key.rstrip("s") in words):
                out.add(code)
        elif key in norm(name):
            out.add(code)
    return out
