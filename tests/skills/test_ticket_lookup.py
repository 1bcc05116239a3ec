"""ticket_lookup: words → filters (pure parser), and the permission-filtered query on the demo org."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from copilot.crm.models import Ticket, User
from copilot.crm.permissions import can, read_filter
from copilot.crm.principal import load_principal
from copilot.service.runtime import Runtime
from skills.base import PageContext, SkillRequest, SkillResult
from skills.ticket_filters import parse
from skills.ticket_lookup import run
from tests.crm.conftest import demo_runtime

__all__ = ["demo_runtime"]
TODAY = dt.date(2026, 11, 20)  # a Friday
OPEN = ["new", "in_progress", "pending_customer"]


class FakeResolver:
    page_account_id: int | None = None
    page_device_id: int | None = None
    names = {1: "华东重工机械股份有限公司", 2: "苏州精锐钣金科技有限公司", 3: "苏州市立康医院", 4: "上海浦东仁和医院"}
    people = {11: "郑凯", 7: "刘洋"}

    def accounts(self, fragment: str) -> list[tuple[int, str]]:
        return [(i, n) for i, n in self.names.items() if fragment in n]

    def users(self, name: str) -> list[tuple[int, str]]:
        return [(i, n) for i, n in self.people.items() if n == name]

    def cities(self) -> list[str]:
        return ["上海", "深圳"]

    def regions(self) -> list[str]:
        return ["华东", "华南"]

    def products(self) -> list[tuple[str, str, str, str]]:
        return [
            ("LC-3015", "LC-3015 光纤激光切割机", "LC-3015 Fiber Laser Cutter", "laser"),
            ("RB-20", "RB-20 六轴工业机器人", "RB-20 Six-Axis Industrial Robot", "robot"),
            ("BA-800", "BA-800 全自动生化分析仪", "BA-800 Automated Chemistry Analyzer", "ivd"),
            ("DC-CLOUD", "DeviceCloud 设备云平台", "DeviceCloud IoT Platform (SaaS)", "saas"),
        ]

    def product_codes(self) -> list[str]:
        return [p[0] for p in self.products()]

    def ticket_number(self, token: str) -> str | None:
        return "GD202611200086" if token.upper() == "GD202611200086" else None

    def device_serial(self, token: str) -> str | None:
        return "LC3015-2026-0096" if token.upper() == "LC3015-2026-0096" else None

    def error_codes(self) -> list[str]:
        return ["E-204", "A-17", "F7", "429"]


def parsed(text: str, page: int | None = None) -> tuple[dict[str, Any], list[str]]:
    r = FakeResolver()
    r.page_account_id = page
    pq = parse(text, today=TODAY, resolver=r)
    return pq.filters, pq.not_understood


@pytest.mark.parametrize(
    ("text", "filters"),
    [
        ("我的未关闭高优先级工单", {"assignee": "me", "status": OPEN, "priority": ["high", "urgent"]}),
        ("my open high priority tickets", {"assignee": "me", "status": OPEN, "priority": ["high", "urgent"]}),
        ("只看高优先级", {"priority": ["high"]}),
        ("紧急工单", {"priority": ["urgent"]}),
        ("中优先级和低优先级", {"priority": ["low", "medium"]}),
        ("上周新建的工单", {"created": {"from": "2026-11-09", "to": "2026-11-15"}}),
        ("this month", {"created": {"from": "2026-11-01", "to": "2026-11-30"}}),
        ("上个月", {"created": {"from": "2026-10-01", "to": "2026-10-31"}}),
        ("最近7天", {"created": {"from": "2026-11-14", "to": "2026-11-20"}}),
        ("last 30 days", {"created": {"from": "2026-10-22", "to": "2026-11-20"}}),
        ("since 2026-10-01", {"created": {"from": "2026-10-01", "to": "2026-11-20"}}),
        ("2026年10月1日以来", {"created": {"from": "2026-10-01", "to": "2026-11-20"}}),
        ("2026-11-01 之前", {"created": {"to": "2026-10-31"}}),
        ("昨天", {"created": {"from": "2026-11-19", "to": "2026-11-19"}}),
        ("上周以来", {"created": {"from": "2026-11-09", "to": "2026-11-20"}}),
        ("since last month", {"created": {"from": "2026-10-01", "to": "2026-11-20"}}),
        ("待上门巡检", {"process_node": ["上门巡检"]}),
        ("等备件的", {"process_node": ["备件申请"]}),
        ("waiting for parts", {"process_node": ["备件申请"]}),
        ("已完成", {"process_node": ["已完成"]}),
        ("超时的", {"sla_breached": True}),
        ("breached SLA", {"sla_breached": True}),
        ("未分配", {"assignee": "unassigned"}),
        ("华东重工", {"account_ids": [1]}),
        ("苏州", {"account_ids": [2, 3]}),  # not a city of this resolver: the customer names that contain it
        ("华东重工集团", {"account_ids": [1]}),
        ("lc3015", {"product_codes": ["LC-3015"]}),
        ("DC-CLOUD", {"product_codes": ["DC-CLOUD"]}),
        ("lc3015-2026-0096", {"device_serials": ["LC3015-2026-0096"]}),
        ("gd202611200086", {"numbers": ["GD202611200086"]}),
        ("上海浦东仁和医院 closed", {"account_ids": [4], "status": ["closed"]}),
        # What people type (issue 9): mine, colleagues, codes, channels, business types, ages, other dates.
        ("我名下还没关闭的高优先级工单", {"assignee": "me", "status": OPEN, "priority": ["high", "urgent"]}),
        ("保养类工单里还没完成的有哪些", {"business_type": ["保养"], "status": OPEN}),
        ("郑凯手上的工单", {"assignee_ids": [11]}),
        ("tickets assigned to me", {"assignee": "me"}),
        ("E-204 报警的单子", {"error_codes": ["E-204"]}),
        ("微信进来的工单", {"channel": ["微信服务号"]}),
        ("hotline tickets", {"channel": ["400热线"]}),
        ("超过一周还没关的", {"status": OPEN, "older_than_days": 7}),
        ("open tickets older than 3 days", {"status": OPEN, "older_than_days": 3}),
        ("上周解决的工单", {"resolved": {"from": "2026-11-09", "to": "2026-11-15"}}),
        (
            "tickets resolved last month",
            {"status": ["resolved", "closed"], "resolved": {"from": "2026-10-01", "to": "2026-10-31"}},
        ),
        ("本月未关闭的工单", {"status": OPEN, "created": {"from": "2026-11-01", "to": "2026-11-30"}}),
        ("今天SLA到期的工单", {"sla_due": {"from": "2026-11-20", "to": "2026-11-20"}}),
        ("上海客户的工单", {"account_city": ["上海"]}),
        ("华南区的紧急工单", {"account_region": ["华南"], "priority": ["urgent"]}),
        ("医疗行业客户的工单", {"account_industry": ["医疗"]}),
        ("DeviceCloud 的工单", {"product_codes": ["DC-CLOUD"]}),
        ("生化分析仪的报修", {"product_codes": ["BA-800"]}),
        ("high priority robot tickets", {"priority": ["high", "urgent"], "product_lines": ["robot"]}),
        # The ticket noun 单 at the edge of a piece ("保养单", "刘洋的单"), never inside a name.
        ("刘洋的单", {"assignee_ids": [7]}),
        ("加急的保养单", {"priority": ["urgent"], "business_type": ["保养"]}),
        # A negation before any resolution word is "not done yet", Chinese, English or mixed.
        ("电话报修还没结案的", {"channel": ["400热线"], "status": OPEN}),
        ("热线进来的 not fixed yet", {"channel": ["400热线"], "status": OPEN}),
        ("还没 close 的安装工单", {"status": OPEN, "business_type": ["安装"]}),
        # "X but not closed": the state named, less closed — not a union with open.
        ("处理好了但没关闭的", {"status": ["resolved"]}),
        ("resolved but not closed yet", {"status": ["resolved"]}),
        ("tickets awaiting the customer", {"status": ["pending_customer"]}),
        # A broad state narrowed by one inside it is that one; two side by side are either.
        ("open ones still being worked on", {"status": ["in_progress"]}),
        ("处理中或待客户确认的", {"status": ["in_progress", "pending_customer"]}),
        ("上海以及华南区的单", {"account_city": ["上海"], "account_region": ["华南"]}),
        ("我这里的单子还没结的", {"assignee": "me", "status": OPEN}),
        ("帮忙拉下备件申请环节的", {"process_node": ["备件申请"]}),
        ("过了SLA的维修单", {"sla_breached": True, "business_type": ["维修"]}),
        ("紧急且超出了SLA", {"priority": ["urgent"], "sla_breached": True}),
        # "这N周 / 这N天": the N ending today; "这一周" stays the calendar week.
        ("这三天报上来的", {"created": {"from": "2026-11-18", "to": "2026-11-20"}}),
        ("这一周的工单", {"created": {"from": "2026-11-16", "to": "2026-11-22"}}),
        ("past two weeks tickets", {"created": {"from": "2026-11-07", "to": "2026-11-20"}}),
        # A list of names joined inside one run: every part must be one.
        ("上海与深圳的工单", {"account_city": ["上海", "深圳"]}),
        ("郑凯或刘洋手上的", {"assignee_ids": [7, 11]}),
        # A marker inside a longer filler word is no marker ("关的" in "有关的").
        ("E-204 有关的工单", {"error_codes": ["E-204"]}),
        # A product code narrows; its own line word adds nothing ("BA-800 分析仪").
        ("BA-800 分析仪的工单", {"product_codes": ["BA-800"]}),
        ("最近 800000 天的工单", {"created": {"from": "0001-01-01", "to": "2026-11-20"}}),
        ("tickets created on 9999-12-31", {"created": {"from": "9999-12-31", "to": "9999-12-31"}}),
    ],
)
def test_parse(text: str, filters: dict[str, Any]) -> None:
    got, unknown = parsed(text)
    assert got == filters
    assert unknown == []


def test_this_customer_binds_to_the_page_or_is_reported() -> None:
    assert parsed("这个客户的工单", page=7) == ({"account_ids": [7]}, [])
    assert parsed("这个客户的工单") == ({}, ["这个客户"])


@pytest.mark.parametrize(
    ("text", "unknown"),
    [
        ("华东重工 foo 的工单", ["foo"]),
        ("urgent tickets about unicorns", ["unicorns"]),
        ("火星基地的工单", ["火星基地"]),
        ("上海和火星的工单", ["上海", "火星"]),  # a list is kept only when every part is understood
        ("'; DROP TABLE tickets; --", ["DROP", "TABLE"]),
    ],
)
def test_unknown_words_are_reported_not_dropped(text: str, unknown: list[str]) -> None:
    _, got = parsed(text)
    assert got == unknown


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_parser_never_crashes_and_keeps_canonical_shape(text: str) -> None:
    filters, unknown = parsed(text)
    from skills.ticket_filters import DATE_FIELDS, LIST_KEYS

    allowed = {"status", "priority", "process_node", "assignee", "older_than_days", "sla_breached", "no_device"}
    allowed |= {"account_owner", "exclude_ids"}
    allowed |= set(DATE_FIELDS) | set(LIST_KEYS)
    assert set(filters) <= allowed
    assert all(isinstance(w, str) and w for w in unknown)


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
    *,
    page: tuple[str, int] | None = None,
    locale: str = "zh",
) -> SkillResult:
    ctx = runtime.assistant.context(session, load_principal(session, username), locale=locale)  # type: ignore[arg-type]
    context = PageContext(object_type=page[0], object_id=page[1]) if page else None
    return run(SkillRequest(message=text, context=context), ctx, today=TODAY)


def test_my_binds_to_the_asker(session: Session, demo_runtime: Runtime) -> None:
    me = session.scalar(select(User.id).where(User.username == "service_agent_1"))
    result = lookup(session, demo_runtime, "service_agent_1", "我的未关闭工单")
    assert result.data["filters"] == {"assignee": "me", "status": OPEN}
    assert result.data["rows"] and all(r["assignee_id"] == me for r in result.data["rows"])
    independent = session.scalar(
        select(func.count()).select_from(Ticket).where(Ticket.assignee_id == me, Ticket.status.in_(OPEN))
    )
    assert result.data["total"] == independent  # the agent reads all service tickets; none missing


def test_an_agent_never_sees_a_ticket_they_cannot_read(session: Session, demo_runtime: Runtime) -> None:
    for username in ("service_agent_1", "rep_east_1", "partner_user_1", "marketer_1"):
        principal = load_principal(session, username)
        result = lookup(session, demo_runtime, username, "所有工单")
        visible = session.scalar(select(func.count()).select_from(Ticket).where(read_filter(principal, "ticket")))
        assert result.data["total"] == visible
        for row in result.data["rows"]:
            assert can(session, principal, "ticket", row["id"]), (username, row["id"])
        for c in result.citations:
            assert can(session, principal, "ticket", int(c.id.split(":")[2]))
    # A rep reads only the high/urgent tickets shared with sales.
    rep = lookup(session, demo_runtime, "rep_east_1", "工单")
    assert rep.data["rows"] and {r["priority"] for r in rep.data["rows"]} <= {"high", "urgent"}
    # A marketer reads none, and is told so.
    assert lookup(session, demo_runtime, "marketer_1", "工单").data["total"] == 0


def test_partner_sees_only_their_companys_tickets(session: Session, demo_runtime: Runtime) -> None:
    partner = load_principal(session, "partner_user_1")
    result = lookup(session, demo_runtime, "partner_user_1", "未关闭的工单")
    assert all(r["partner_id"] == partner.partner_id for r in result.data["rows"])


def test_customer_name_is_matched_among_visible_accounts(session: Session, demo_runtime: Runtime) -> None:
    result = lookup(session, demo_runtime, "service_agent_1", "查一下华东重工的紧急工单")
    assert result.data["matched_accounts"] == [{"id": 1, "name": "华东重工机械股份有限公司"}]
    assert result.data["filters"] == {"account_ids": [1], "priority": ["urgent"]}
    assert all(r["account_id"] == 1 and r["priority"] == "urgent" for r in result.data["rows"])
    assert "华东重工机械股份有限公司" in result.answer


def test_this_customer_from_the_ticket_page(session: Session, demo_runtime: Runtime) -> None:
    # "其他": the customer's *other* tickets — the one on screen is not among them.
    result = lookup(session, demo_runtime, "service_agent_1", "这个客户的其他工单", page=("ticket", 86))
    assert result.data["filters"] == {"account_ids": [1], "exclude_ids": [86]}
    ids = {r["id"] for r in result.data["rows"]}
    assert ids and 86 not in ids and all(r["account_id"] == 1 for r in result.data["rows"])


def test_sla_breached_rows_really_are(session: Session, demo_runtime: Runtime) -> None:
    now = dt.datetime.combine(TODAY, dt.time(18, 0))
    result = lookup(session, demo_runtime, "service_mgr", "未关闭且超时的工单", locale="en")
    assert result.data["filters"] == {"status": OPEN, "sla_breached": True}
    assert result.data["rows"]
    for row in result.data["rows"]:
        assert dt.datetime.fromisoformat(row["sla_due"]) < now and row["sla_breached"] is True
    assert "breached" in result.answer


def test_injection_is_just_words(session: Session, demo_runtime: Runtime) -> None:
    before = session.scalar(select(func.count()).select_from(Ticket))
    result = lookup(session, demo_runtime, "service_agent_1", "华东重工'; DROP TABLE tickets; -- 工单", locale="en")
    assert result.data["filters"] == {"account_ids": [1]}
    assert "DROP" in result.data["not_understood"] and "Not understood" in result.answer
    assert session.scalar(select(func.count()).select_from(Ticket)) == before


def test_answer_lists_number_subject_priority_status_node_and_sla(session: Session, demo_runtime: Runtime) -> None:
    result = lookup(session, demo_runtime, "service_agent_1", "GD202611200086")
    assert result.data["total"] == 1
    row = result.data["rows"][0]
    for piece in (row["number"], row["subject"], "紧急", row["process_node"], "SLA"):
        assert piece in result.answer
    assert [c.id for c in result.citations] == [f"crm:ticket:{row['id']}"]


def test_eval_exact_match_floor(demo_runtime: Runtime) -> None:
    from eval.skill_cases import run_all

    report = run_all(demo_runtime, TODAY, skills=("ticket_lookup",))
    tl = report["ticket_lookup"]
    assert tl["cases"] >= 30
    assert tl["exact_match"] >= 0.9, tl["failures"]
    assert tl["fls_leaks"] == 0 and tl["citations_outside"] == 0, tl["failures"]


# --- never wider than the words; no crash on out-of-calendar dates ---------------------------------


def test_words_not_understood_mean_no_rows_not_all_rows(session: Session, demo_runtime: Runtime) -> None:
    result = lookup(session, demo_runtime, "service_agent_1", "火星基地的未关闭工单")
    assert result.data["not_understood"] == ["火星基地"]
    assert result.data["rows"] == [] and result.data["total"] == 0 and result.citations == []
    assert "没有理解：火星基地" in result.answer
    en = lookup(session, demo_runtime, "service_mgr", "tickets about the firmware rollout", locale="en")
    assert en.data["total"] == 0 and "Not understood: firmware, rollout" in en.answer


def test_mine_is_the_askers_tickets_only(session: Session, demo_runtime: Runtime) -> None:
    me = session.scalar(select(User.id).where(User.username == "service_agent_1"))
    result = lookup(session, demo_runtime, "service_agent_1", "我名下还没关闭的高优先级工单")
    want = session.scalar(
        select(func.count())
        .select_from(Ticket)
        .where(Ticket.assignee_id == me, Ticket.status.in_(OPEN), Ticket.priority.in_(["high", "urgent"]))
    )
    everyone = session.scalar(
        select(func.count()).select_from(Ticket).where(Ticket.status.in_(OPEN), Ticket.priority.in_(["high", "urgent"]))
    )
    assert result.data["total"] == want == len(result.data["rows"]) and int(want or 0) < int(everyone or 0)
    assert all(r["assignee_name"] == "刘洋" for r in result.data["rows"])


@pytest.mark.parametrize(
    ("text", "everything"),
    [("最近 800000 天的工单", True), ("tickets created on 9999-12-31", False), ("last 99999999999 days", True)],
)
def test_dates_beyond_the_calendar_are_clamped(
    session: Session, demo_runtime: Runtime, text: str, everything: bool
) -> None:
    result = lookup(session, demo_runtime, "service_agent_1", text, locale="en")
    total = session.scalar(select(func.count()).select_from(Ticket))
    assert result.data["total"] == (total if everything else 0)


@pytest.fixture(scope="module")
def pinned(demo_runtime: Runtime) -> Iterator[Runtime]:
    """The same demo database, on the demo's pinned business day (as CRM_COPILOT_TODAY pins it)."""
    from copilot.core.settings import Settings

    s = demo_runtime.settings
    runtime = Runtime(Settings(data_dir=s.data_dir, database_url=s.database_url, today=TODAY))
    yield runtime
    runtime.close()


def test_user_phrased_cases_exact(pinned: Runtime) -> None:
    """The 48 ticket and 29 record lookups written from the user's side, each expected set by hand SQL."""
    from eval.lookup_eval import run_all

    with pinned.sessions() as s:
        report = run_all(s, pinned)
    for skill in ("ticket_lookup", "record_lookup"):
        assert report[skill]["cases"] >= 20
        assert report[skill]["exact"] >= 0.9, report[skill]["failures"]


# --- with a model: it proposes filters, the vocabulary decides --------------------------------------


def _fake_model_runtime(demo_runtime: Runtime, fake_openai: Any) -> Runtime:
    s = demo_runtime.settings
    return Runtime(
        fake_openai.settings(data_dir=s.data_dir, database_url=s.database_url, llm_max_retries=0, today=TODAY)
    )


def test_model_proposal_is_validated_and_used(demo_runtime: Runtime, fake_openai: Any) -> None:
    runtime = _fake_model_runtime(demo_runtime, fake_openai)
    fake_openai.reply_json({"business_type": ["保养"], "status": ["new", "in_progress", "pending_customer"]})
    fake_openai.reply("answer")
    with runtime.sessions() as s:
        principal = load_principal(s, "service_mgr")
        result = runtime.assistant.turn(s, principal, SkillRequest(message="定检单子里还开着的"), skill="ticket_lookup")
        want = s.scalar(
            select(func.count()).select_from(Ticket).where(Ticket.business_type == "保养", Ticket.status.in_(OPEN))
        )
        s.rollback()
    first = fake_openai.chat_requests()[0]
    assert "定检" in first.raw and "business_type" in first.raw  # the words and the schema reached the model
    assert result.data["not_understood"] == [] and "model_proposed" in result.data["notes"]
    assert result.data["filters"]["business_type"] == ["保养"]
    assert result.data["total"] == want and all(r["business_type"] == "保养" for r in result.data["rows"])


def test_model_proposal_outside_the_vocabulary_is_refused(demo_runtime: Runtime, fake_openai: Any) -> None:
    runtime = _fake_model_runtime(demo_runtime, fake_openai)
    # A name that is no visible customer: well-formed JSON, refused by our validation.
    fake_openai.reply_json({"customer_names": ["火星基地"]})
    with runtime.sessions() as s:
        principal = load_principal(s, "service_mgr")
        result = runtime.assistant.turn(s, principal, SkillRequest(message="火星基地的工单"), skill="ticket_lookup")
        s.rollback()
    assert result.data["rows"] == [] and result.data["total"] == 0
    assert result.data["not_understood"] == ["火星基地"]
    assert "model_rejected:customer=火星基地" in result.data["notes"]


def test_model_output_outside_the_schema_is_refused(demo_runtime: Runtime, fake_openai: Any) -> None:
    runtime = _fake_model_runtime(demo_runtime, fake_openai)
    fake_openai.reply_json({"channel": ["传真"]})  # not one of our channels: the schema check refuses it
    with runtime.sessions() as s:
        principal = load_principal(s, "service_mgr")
        result = runtime.assistant.turn(s, principal, SkillRequest(message="传真来的工单"), skill="ticket_lookup")
        s.rollback()
    assert result.data["rows"] == [] and result.data["not_understood"]
    assert "model_proposal_invalid" in result.data["notes"]


# --- a lookup question goes to a lookup, through the turn --------------------------------------------


@pytest.mark.parametrize(
    ("username", "text", "skill"),
    [
        ("service_agent_1", "我名下还没关闭的高优先级工单", "ticket_lookup"),
        ("rep_east_1", "我名下有哪些商机？", "record_lookup"),
        ("rep_east_1", "my deals closing this month", "record_lookup"),
        ("rep_east_1", "华东重工的联系人", "record_lookup"),
    ],
)
def test_lookup_questions_route_to_a_lookup(pinned: Runtime, username: str, text: str, skill: str) -> None:
    with pinned.sessions() as s:
        result = pinned.assistant.turn(s, load_principal(s, username), SkillRequest(message=text))
        s.rollback()
    assert result.skill == skill, result.routing
    assert result.data["total"] == len(result.data["rows"]) > 0
