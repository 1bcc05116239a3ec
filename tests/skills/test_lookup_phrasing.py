"""Lookup phrasings found by a blind probe (eval/datasets/*_paraphrase.yaml), each pinned as the general rule
it revealed — not the probe's sentence: the asker as a bare subject, creation words (接/收到/开了), a
creation word with no day as the state, locatives and product-line nouns as filler, months in Chinese
numerals, "之前/历史" as no period, a rep's "我的客户", the page's ticket left out of "其他", win
probability, "推进" as open, and the SLA clock read from the clock port only."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from typing import Any

import pytest

from copilot.core.clock import BusinessClock
from copilot.core.settings import Settings
from skills.record_filters import parse as parse_records
from skills.ticket_filters import parse as parse_tickets
from skills.ticket_lookup import resolve_now
from tests.skills.test_record_lookup import FakeNames
from tests.skills.test_ticket_lookup import FakeResolver

TODAY = dt.date(2026, 11, 20)  # a Friday
OPEN = ["new", "in_progress", "pending_customer"]
OPEN_STAGES = ["线索验证", "需求确认", "方案报价", "商务谈判"]
THIS_WEEK = {"from": "2026-11-16", "to": "2026-11-22"}


def tickets(text: str, *, page_ticket: int | None = None, page_account: int | None = None) -> tuple[Any, list[str]]:
    r = FakeResolver()
    r.page_account_id = page_account
    if page_ticket is not None:
        r.page_ticket_id = page_ticket  # type: ignore[attr-defined]
    pq = parse_tickets(text, today=TODAY, resolver=r)
    return pq.filters, pq.not_understood


def records(text: str) -> tuple[str | None, Any, list[str]]:
    rq = parse_records(text, today=TODAY, resolver=FakeNames())
    return rq.object_type, rq.filters, rq.not_understood


@pytest.mark.parametrize(
    ("text", "filters"),
    [
        # The asker as the subject of what was done binds like "我的"; a request about the asker does not.
        (
            "我上个月解决了哪些工单",
            {
                "assignee": "me",
                "status": ["resolved", "closed"],
                "resolved": {"from": "2026-10-01", "to": "2026-10-31"},
            },
        ),
        (
            "tickets I closed last week",
            {"assignee": "me", "status": ["closed"], "resolved": {"from": "2026-11-09", "to": "2026-11-15"}},
        ),
        ("帮我列一下紧急工单", {"priority": ["urgent"]}),
        ("手上还有哪些紧急工单", {"assignee": "me", "priority": ["urgent"]}),
        ("郑凯手上的紧急工单", {"assignee_ids": [11], "priority": ["urgent"]}),
        ("我想看紧急工单", {"priority": ["urgent"]}),
        ("can I see urgent tickets", {"priority": ["urgent"]}),
        # Receiving a ticket is its creation; "开了N天" is its age.
        ("郑凯这周新接的工单", {"assignee_ids": [11], "created": THIS_WEEK}),
        ("这周收到的工单", {"created": THIS_WEEK}),
        ("开了5天以上还没关的工单", {"status": OPEN, "older_than_days": 5}),
        # A creation word with no day is the state; with a day it is the date.
        ("新建的工单", {"status": ["new"]}),
        ("中优先级的新建工单", {"status": ["new"], "priority": ["medium"]}),
        ("今天新建的工单", {"created": {"from": "2026-11-20", "to": "2026-11-20"}}),
        # Filler around a product: locatives, product-line nouns, English possessives.
        ("LC-3015 设备上还没解决的工单", {"status": OPEN, "product_codes": ["LC-3015"]}),
        ("IVD 产品线的工单", {"product_lines": ["ivd"]}),
        ("which tickets have breached their SLA?", {"sla_breached": True}),
        # A name with 自己/本人 is that person.
        ("郑凯自己的工单", {"assignee_ids": [11]}),
        # Months in Chinese numerals; a count of months stays a duration.
        ("十月份创建的工单", {"created": {"from": "2026-10-01", "to": "2026-10-31"}}),
        ("十二月的工单", {"created": {"from": "2026-12-01", "to": "2026-12-31"}}),
        ("超过三个月还没关的工单", {"status": OPEN, "older_than_days": 90}),
        # No period: the whole history.
        ("之前报过的工单", {}),
        # A rep's customers are the accounts they own, not tickets assigned to them.
        ("我的客户有哪些紧急工单", {"account_owner": "me", "priority": ["urgent"]}),
        ("urgent tickets for my accounts", {"account_owner": "me", "priority": ["urgent"]}),
    ],
)
def test_ticket_phrasings(text: str, filters: dict[str, Any]) -> None:
    assert tickets(text) == (filters, [])


def test_other_tickets_leave_out_the_page_ticket() -> None:
    assert tickets("同一个客户的其他工单", page_ticket=30, page_account=17) == (
        {"account_ids": [17], "exclude_ids": [30]},
        [],
    )
    # Without a ticket page "其他" is filler, as before.
    assert tickets("其他紧急工单") == ({"priority": ["urgent"]}, [])


@pytest.mark.parametrize(
    ("text", "obj", "filters"),
    [
        ("赢率50%以上的商机", "opportunity", {"probability": {"ge": 50}}),
        ("成交概率大于七成的单子", "opportunity", {"probability": {"gt": 70}}),
        ("deals with win probability under 30%", "opportunity", {"probability": {"lt": 30}}),
        ("我手上在推进的单子有哪些", "opportunity", {"owner": "me", "stage": OPEN_STAGES}),
        # A person marker with nobody before it is the asker's own; after a name it is that person's.
        ("帮我列一下手头还在跟进的单子", "opportunity", {"owner": "me", "stage": OPEN_STAGES}),
        ("陈浩手上在跟的商机", "opportunity", {"owner_ids": [4], "stage": OPEN_STAGES}),
        ("which accounts do I own?", "account", {"owner": "me"}),
        (
            "deals I won this year",
            "opportunity",
            {"owner": "me", "stage": ["赢单"], "close_date": {"from": "2026-01-01", "to": "2026-12-31"}},
        ),
        (
            "上周我去拜访了哪些客户",
            "activity",
            {"owner": "me", "kind": ["visit"], "occurred_at": {"from": "2026-11-09", "to": "2026-11-15"}},
        ),
        (
            "我上周都拜访了谁",
            "activity",
            {"owner": "me", "kind": ["visit"], "occurred_at": {"from": "2026-11-09", "to": "2026-11-15"}},
        ),
    ],
)
def test_record_phrasings(text: str, obj: str, filters: dict[str, Any]) -> None:
    assert records(text) == (obj, filters, [])


class _Clock:
    def __init__(self, now: dt.datetime, pinned: bool = False) -> None:
        self._now, self.pinned = now, pinned

    def today(self) -> dt.date:
        return self._now.date()

    def now(self) -> dt.datetime:
        return self._now


def test_sla_now_comes_from_the_clock_port() -> None:
    at_ten = dt.datetime(2026, 11, 20, 10, 0)
    # A live clock on its own day: its time of day, whatever the host's date is.
    assert resolve_now(SimpleNamespace(clock=_Clock(at_ten)), TODAY) == at_ten  # type: ignore[arg-type]
    # A pinned business day (or another day asked for) replays at close of business.
    close = dt.datetime(2026, 11, 20, 18, 0)
    assert resolve_now(SimpleNamespace(clock=_Clock(at_ten, pinned=True)), TODAY) == close  # type: ignore[arg-type]
    assert resolve_now(SimpleNamespace(clock=_Clock(at_ten)), dt.date(2026, 11, 19)) == dt.datetime(2026, 11, 19, 18)  # type: ignore[arg-type]
    assert BusinessClock(Settings(today=TODAY)).pinned is True
    assert BusinessClock(Settings(today=None)).pinned is False
