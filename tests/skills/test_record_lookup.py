"""record_lookup: words → object and filters (pure parser on the shared lookup words), and the query on the
demo org through the asker's record repository: exact, never wider than the words, names not ids."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from copilot.crm.models import Activity, Contact, Opportunity
from copilot.crm.permissions import can
from copilot.crm.principal import load_principal
from copilot.service.runtime import Runtime
from skills.base import PageContext, SkillRequest, SkillResult
from skills.record_filters import parse
from skills.record_lookup import run
from skills.ticket_filters import parse as parse_ticket
from tests.crm.conftest import demo_runtime
from tests.skills.test_ticket_lookup import FakeResolver

__all__ = ["demo_runtime"]
TODAY = dt.date(2026, 11, 20)
OPEN = ["线索验证", "需求确认", "方案报价", "商务谈判"]


class FakeNames:
    page_account_id: int | None = None
    page_opportunity_id: int | None = None

    def accounts(self, fragment: str) -> list[tuple[int, str]]:
        names = {1: "华东重工机械股份有限公司", 2: "苏州精锐钣金科技有限公司"}
        return [(i, n) for i, n in names.items() if fragment in n]

    def users(self, name: str) -> list[tuple[int, str]]:
        return [(4, "陈浩")] if name == "陈浩" else []

    def cities(self) -> list[str]:
        return ["上海", "杭州"]

    def regions(self) -> list[str]:
        return ["华东"]

    def products(self) -> list[tuple[str, str, str, str]]:
        return [("CR-7", "CR-7 协作机器人", "CR-7 Collaborative Robot", "robot")]

    def competitors(self) -> list[str]:
        return ["大族激光"]

    def lead_sources(self) -> list[str]:
        return ["展会", "线上研讨会"]


def parsed(text: str, page: int | None = None) -> tuple[str | None, dict[str, Any], list[str]]:
    names = FakeNames()
    names.page_account_id = page
    rq = parse(text, today=TODAY, resolver=names)
    return rq.object_type, rq.filters, rq.not_understood


@pytest.mark.parametrize(
    ("text", "obj", "filters"),
    [
        ("我名下有哪些商机？", "opportunity", {"owner": "me"}),
        (
            "本月要成交的商机",
            "opportunity",
            {"closing": True, "close_date": {"from": "2026-11-01", "to": "2026-11-30"}},
        ),
        (
            "my deals closing this month",
            "opportunity",
            {"owner": "me", "closing": True, "close_date": {"from": "2026-11-01", "to": "2026-11-30"}},
        ),
        ("我负责的客户有哪些", "account", {"owner": "me"}),
        ("华东重工的联系人", "contact", {"account_ids": [1]}),
        ("华东重工的决策者", "contact", {"account_ids": [1], "decision_role": ["决策者"]}),
        ("上周的拜访记录", "activity", {"kind": ["visit"], "occurred_at": {"from": "2026-11-09", "to": "2026-11-15"}}),
        ("金额超过50万的商机", "opportunity", {"amount": {"gt": "500000"}}),
        ("100万以上的 deals", "opportunity", {"amount": {"ge": "1000000"}}),
        ("deals under 300k", "opportunity", {"amount": {"lt": "300000"}}),
        ("stalled deals in negotiation", "opportunity", {"stalled": True, "stage": ["商务谈判"]}),
        ("停滞超过两个月的商机", "opportunity", {"stalled": 60}),
        ("陈浩的商机", "opportunity", {"owner_ids": [4]}),
        ("我团队的商机", "opportunity", {"owner": "team"}),
        ("杭州的客户", "account", {"account_city": ["杭州"]}),
        ("accounts in Shanghai", "account", {"account_city": ["上海"]}),
        ("my strategic accounts", "account", {"owner": "me", "account_tier": ["战略"]}),
        ("医疗行业的客户", "account", {"account_industry": ["医疗"]}),
        ("公海里的客户", "account", {"public_pool": True}),
        ("我的线索里评分80以上的", "lead", {"owner": "me", "score": {"ge": 80}}),
        ("my MQL leads", "lead", {"owner": "me", "lead_status": ["MQL"]}),
        ("有竞争对手的商机", "opportunity", {"competitor": True}),
        ("大族激光参与的商机", "opportunity", {"competitor": ["大族激光"]}),
        ("预计成交日期已经过了但还没成交的商机", "opportunity", {"close_date_passed": True, "stage": OPEN}),
        (
            "今年 won 的 deals",
            "opportunity",
            {"stage": ["赢单"], "close_date": {"from": "2026-01-01", "to": "2026-12-31"}},
        ),
        # "我" is the subject of losing them: my deals, not everyone's (it used to be dropped as filler).
        ("我输掉的单子", "opportunity", {"owner": "me", "stage": ["输单"]}),
        (
            "WeCom messages this week",
            "activity",
            {"kind": ["wecom"], "occurred_at": {"from": "2026-11-16", "to": "2026-11-22"}},
        ),
        ("这个 account 的 contacts", "contact", {}),
        ("CR-7 协作机器人的商机", "opportunity", {"product_codes": ["CR-7"]}),
        # An expected signing is a close date on an open deal, not a won one.
        (
            "本季度预计签约的项目",
            "opportunity",
            {"closing": True, "close_date": {"from": "2026-10-01", "to": "2026-12-31"}},
        ),
        (
            "这周能关单的单子",
            "opportunity",
            {"closing": True, "close_date": {"from": "2026-11-16", "to": "2026-11-22"}},
        ),
        (
            "去年签下的订单",
            "opportunity",
            {"stage": ["赢单"], "close_date": {"from": "2025-01-01", "to": "2025-12-31"}},
        ),
        (
            "deals we won this quarter",
            "opportunity",
            {"stage": ["赢单"], "close_date": {"from": "2026-10-01", "to": "2026-12-31"}},
        ),
        # Superlatives order the rows; a count beside them keeps the first N.
        ("预算最高的3个项目", "opportunity", {"rank": {"by": "largest", "n": 3}}),
        ("the ten biggest opportunities", "opportunity", {"rank": {"by": "largest", "n": 10}}),
        ("最新的两条电话记录", "activity", {"rank": {"by": "latest", "n": 2}, "kind": ["call"]}),
        ("最小的商机", "opportunity", {"rank": {"by": "smallest"}}),
        # A decision role is a contact's, whichever noun comes first.
        ("key decision makers across my customers", "contact", {"owner": "me", "decision_role": ["决策者"]}),
        ("clients in the manufacturing industry", "account", {"account_industry": ["制造业"]}),
    ],
)
def test_parse(text: str, obj: str, filters: dict[str, Any]) -> None:
    got_obj, got, unknown = parsed(text)
    assert (got_obj, got, unknown) == (obj, filters, [] if "这个 account" not in text else ["这个 account"])


def test_this_account_binds_to_the_page() -> None:
    assert parsed("open deals for this account", page=7) == ("opportunity", {"account_ids": [7], "stage": OPEN}, [])


@pytest.mark.parametrize(
    ("text", "unknown"), [("我名下火星基地的商机", ["火星基地"]), ("deals about unicorns", ["unicorns"])]
)
def test_unknown_words_are_reported(text: str, unknown: list[str]) -> None:
    assert parsed(text)[2] == unknown


# --- against the demo org ------------------------------------------------------------------------


@pytest.fixture
def session(demo_runtime: Runtime) -> Iterator[Session]:
    with demo_runtime.sessions() as s:
        yield s
        s.rollback()


def lookup(
    session: Session,
    runtime: Runtime,
    username: str,
    text: str,
    page: tuple[str, int] | None = None,
    locale: str = "zh",
) -> SkillResult:
    ctx = runtime.assistant.context(session, load_principal(session, username), locale=locale)  # type: ignore[arg-type]
    context = PageContext(object_type=page[0], object_id=page[1]) if page else None
    return run(SkillRequest(message=text, context=context), ctx, today=TODAY)


def test_my_deals_are_mine_and_named(session: Session, demo_runtime: Runtime) -> None:
    result = lookup(session, demo_runtime, "rep_east_1", "我名下有哪些商机？")
    want = session.scalar(select(func.count()).select_from(Opportunity).where(Opportunity.owner_id == 3))
    assert result.data["object_type"] == "opportunity"
    assert result.data["total"] == want == len(result.data["rows"])
    assert all(r["owner_name"] == "李娜" and r["account_name"] for r in result.data["rows"])
    assert {c.id for c in result.citations} <= {f"crm:opportunity:{r['id']}" for r in result.data["rows"]}
    assert "华东重工机械股份有限公司" in result.answer  # names, not 客户=1


def test_contacts_of_a_named_customer(session: Session, demo_runtime: Runtime) -> None:
    result = lookup(session, demo_runtime, "rep_east_1", "华东重工的联系人")
    want = set(session.scalars(select(Contact.id).where(Contact.account_id == 1)))
    assert {r["id"] for r in result.data["rows"]} == want
    assert result.data["matched_accounts"] == [{"id": 1, "name": "华东重工机械股份有限公司"}]


def test_never_wider_than_permissions(session: Session, demo_runtime: Runtime) -> None:
    # 李娜 cannot read 陈浩's deals: asking for them by name returns none, not hers, not all.
    result = lookup(session, demo_runtime, "rep_east_1", "陈浩的商机")
    principal = load_principal(session, "rep_east_1")
    assert all(can(session, principal, "opportunity", r["id"]) for r in result.data["rows"])
    assert all(r["owner_id"] == 4 for r in result.data["rows"])
    # Their manager can.
    manager = lookup(session, demo_runtime, "sales_mgr_east", "陈浩的商机")
    want = int(session.scalar(select(func.count()).select_from(Opportunity).where(Opportunity.owner_id == 4)) or 0)
    assert manager.data["total"] == want > 0


def test_words_not_understood_mean_no_rows(session: Session, demo_runtime: Runtime) -> None:
    result = lookup(session, demo_runtime, "rep_east_1", "我名下火星基地的商机")
    assert result.data["rows"] == [] and result.data["total"] == 0 and result.citations == []
    assert "没有理解：火星基地" in result.answer


def test_a_filter_that_does_not_apply_is_not_dropped(session: Session, demo_runtime: Runtime) -> None:
    # A lead has no stage: say so, list nothing.
    result = lookup(session, demo_runtime, "rep_east_1", "商务谈判阶段的线索", locale="zh")
    assert result.data["total"] == 0 and "filter_not_applicable" in result.data["notes"]


def test_contacts_at_my_accounts_are_by_the_account_owner(session: Session, demo_runtime: Runtime) -> None:
    from copilot.crm.models import Account

    result = lookup(session, demo_runtime, "rep_east_1", "who are the decision makers on my accounts", locale="en")
    mine = select(Account.id).where(Account.owner_id == 3)
    want = set(
        session.scalars(select(Contact.id).where(Contact.decision_role == "决策者", Contact.account_id.in_(mine)))
    )
    assert result.data["object_type"] == "contact"
    assert {r["id"] for r in result.data["rows"]} == want and want


def test_top_n_by_amount(session: Session, demo_runtime: Runtime) -> None:
    result = lookup(session, demo_runtime, "sales_mgr_east", "预算最高的三个项目")
    principal = load_principal(session, "sales_mgr_east")
    visible = [o for o in session.scalars(select(Opportunity)) if can(session, principal, "opportunity", o.id)]
    want = [o.id for o in sorted(visible, key=lambda o: (-o.amount, o.id))[:3]]
    assert [r["id"] for r in result.data["rows"]] == want and result.data["total"] == 3


def test_manager_team_is_the_chain(session: Session, demo_runtime: Runtime) -> None:
    result = lookup(session, demo_runtime, "sales_mgr_east", "my team's visits last week", locale="en")
    want = set(
        session.scalars(
            select(Activity.id).where(
                Activity.owner_id.in_([2, 3, 4]),
                Activity.kind == "visit",
                Activity.occurred_at >= dt.datetime(2026, 11, 9),
                Activity.occurred_at < dt.datetime(2026, 11, 16),
            )
        )
    )
    assert {r["id"] for r in result.data["rows"]} == want


_WORDS = st.sampled_from(
    [
        "最近",
        "超过",
        "800000",
        "99999999999",
        "天",
        "周",
        "以上",
        "万",
        "before",
        "9999-12-31",
        "0000-01-01",
        "last",
        "days",
        "over",
        "m",
        "评分",
        "商机",
        "客户",
        "我的",
        "的",
        " ",
        "上周",
        "within",
        "年",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_WORDS, max_size=8).map("".join) | st.text(max_size=60))
def test_parsers_never_crash_on_odd_numbers_and_dates(text: str) -> None:
    """Huge periods, impossible dates, long digit runs: clamped or reported, never an exception."""
    parse(text, today=TODAY, resolver=FakeNames())
    parse_ticket(text, today=TODAY, resolver=FakeResolver())
