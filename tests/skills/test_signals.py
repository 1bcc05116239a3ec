"""The signal engine on small hand-built data: each rule at its threshold, the scoring, FLS, config."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from decimal import Decimal as D
from pathlib import Path

import pytest
import yaml
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from copilot.crm.models import (
    Account,
    AccountRevenue,
    Activity,
    Base,
    Contact,
    Contract,
    Department,
    Device,
    FieldPermission,
    Opportunity,
    Product,
    Receivable,
    Role,
    Ticket,
    User,
    UserRole,
)
from copilot.crm.principal import load_principal
from copilot.crm.repository import Records
from skills.signals import (
    Money,
    default_config,
    evaluate,
    load_config,
    load_records,
    to_action,
    urgency_ahead,
    urgency_past,
    value_factor,
)
from skills.signals.config import SIGNAL_KINDS, THRESHOLDS_PATH
from skills.signals.render import HIDDEN, messages

TODAY = dt.date(2026, 11, 20)


def day(offset: int) -> dt.date:
    return TODAY + dt.timedelta(days=offset)


def at(offset: int, hour: int = 10) -> dt.datetime:
    return dt.datetime.combine(day(offset), dt.time(hour))


@pytest.fixture
def session() -> Iterator[Session]:
    """A tiny org: a manager, two reps (rep1 with contract amounts hidden), one service agent."""
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    s = Session(engine)
    for i, (code, parent) in enumerate([("hq", None), ("sales", 1), ("service", 1)], 1):
        s.add(Department(id=i, code=code, name=code, parent_id=parent, path="/"))
    for i, role_name in enumerate(["sales_manager", "sales_rep", "service_agent"], 1):
        s.add(Role(id=i, name=role_name))
    for uid, name, display, dept, mgr, role in [
        (1, "mgr", "王经理", 2, None, 1),
        (2, "rep1", "李销售", 2, 1, 2),
        (3, "rep2", "张销售", 2, 1, 2),
        (4, "agent", "赵工", 3, None, 3),
    ]:
        s.add(User(id=uid, username=name, display_name=display, department_id=dept, manager_id=mgr))
        s.flush()
        s.add(UserRole(user_id=uid, role_id=role))
    s.add(FieldPermission(role="sales_rep", object_type="contract", field="amount"))
    s.add(
        Product(
            id=1,
            code="LC-3015",
            name="LC-3015 光纤激光切割机",
            name_en="LC-3015 Fiber Laser Cutter",
            line="laser",
            list_price=D(680000),
        )
    )
    s.add(Account(id=1, name="华东重工机械股份有限公司", industry="制造业", owner_id=2, department_id=2))
    s.add(Account(id=2, name="苏州精锐钣金科技有限公司", industry="制造业", owner_id=3, department_id=2))
    s.add(Contact(id=1, account_id=1, name="陈会计", decision_role="财务", owner_id=2, department_id=2))
    s.add(Contact(id=2, account_id=2, name="刘总", decision_role="决策者", owner_id=3, department_id=2))
    s.commit()
    yield s
    s.close()


def opp(
    s: Session,
    oid: int,
    *,
    account: int = 1,
    owner: int = 2,
    stage: str = "方案报价",
    amount: int = 1_000_000,
    close: int = 30,
    entered: int = -5,
    created: int = -40,
    dispatch: str | None = None,
) -> None:
    s.add(
        Opportunity(
            id=oid,
            account_id=account,
            name=f"商机{oid}",
            stage=stage,
            amount=D(amount),
            close_date=day(close),
            owner_id=owner,
            department_id=2,
            stage_entered_at=at(entered),
            created_at=at(created),
            dispatch_status=dispatch,
        )
    )


def act(
    s: Session, aid: int, oid: int | None, days_ago: int, body: str = "电话跟进", account: int = 1, owner: int = 2
) -> None:
    s.add(
        Activity(
            id=aid,
            kind="call",
            subject=f"跟进{aid}",
            body=body,
            occurred_at=at(-days_ago),
            account_id=account,
            opportunity_id=oid,
            owner_id=owner,
            department_id=2,
        )
    )


def signals_for(s: Session, username: str, opp_ids: list[int], account_ids: set[int]) -> list:
    s.commit()
    principal = load_principal(s, username)
    deals = [s.get(Opportunity, i) for i in opp_ids]
    rs = load_records(Records(s, principal), default_config(), TODAY, deals, account_ids)  # type: ignore[arg-type]
    return evaluate(rs, default_config())


def records_for(s: Session, username: str, account_ids: set[int]):  # type: ignore[no-untyped-def]
    return load_records(Records(s, load_principal(s, username)), default_config(), TODAY, [], account_ids)


def kinds(signals: list) -> list[str]:
    return [x.kind for x in signals]


# --- scoring -------------------------------------------------------------------------------------


def test_value_factor_is_logarithmic_and_urgency_bounded() -> None:
    unit = 1_000_000
    assert value_factor(0, unit) == 1.0
    assert value_factor(10_000_000, unit) == pytest.approx(2.041, abs=1e-3)
    assert value_factor(-5, unit) == 1.0
    assert urgency_ahead(0, 7) == 1.5 and urgency_ahead(7, 7) == 1.0 and urgency_ahead(30, 7) == 1.0
    assert urgency_past(0) == 1.5 and urgency_past(60) == 2.0 and urgency_past(400) == 2.0


def _contract(s: Session, cid: int = 1, account: int = 1, amount: int = 300000) -> None:
    s.add(
        Contract(
            id=cid,
            number=f"HT-{cid}",
            account_id=account,
            amount=D(amount),
            signed_date=day(-200),
            start_date=day(-200),
            end_date=day(400),
            owner_id=2,
            department_id=2,
        )
    )


def test_a_small_overdue_fee_does_not_outrank_a_competitor_move(session: Session) -> None:
    """The issue's case: a ¥5,340 overdue fee used to outrank an open price objection against a competitor."""
    opp(session, 1, stage="商务谈判", amount=600_000, close=60)
    act(session, 1, 1, days_ago=5, body="客户说我们的报价比通快TRUMPF高了12%，希望再让几个点")
    _contract(session)
    session.add(Receivable(id=1, contract_id=1, seq=2, milestone="二期服务费", due_date=day(-120), amount=D(5340)))
    found = kinds(signals_for(session, "rep1", [1], {1}))
    assert found[0] == "competitor_mentioned" and "receivable_overdue" in found


def test_a_large_overdue_outranks_a_small_deal_risk(session: Session) -> None:
    """Money the customer owes weighs by how much it is: ¥1.5M overdue beats a trial on a ¥250k deal."""
    opp(session, 1, stage="需求确认", amount=250_000, close=100)
    act(session, 1, 1, days_ago=1, body="阿里云已经在做样机试用")
    _contract(session, amount=3_000_000)
    session.add(Receivable(id=1, contract_id=1, seq=2, milestone="验收款", due_date=day(-17), amount=D(1_500_000)))
    assert kinds(signals_for(session, "rep1", [1], {1}))[0] == "receivable_overdue"


def test_the_deal_silent_before_its_close_date_outranks_an_unrelated_ticket(session: Session) -> None:
    opp(session, 1, stage="商务谈判", amount=600_000, close=20)
    act(session, 1, 1, days_ago=19)
    session.add(
        Ticket(
            id=1,
            number="GD1",
            subject="请求上门检修",
            priority="urgent",
            status="in_progress",
            process_node="远程诊断",
            account_id=1,
            sla_due=at(0, 20),
            owner_id=2,
            department_id=2,
        )
    )
    found = signals_for(session, "rep1", [1], {1})
    assert kinds(found)[0] == "stale_deal" and found[0].variant == "before_close"
    assert "high_priority_ticket" in kinds(found)


def _ticket(s: Session, tid: int, priority: str = "urgent", opened_days_ago: int = 2) -> None:
    s.add(
        Ticket(
            id=tid,
            number=f"GD{tid}",
            subject="设备无法运行",
            priority=priority,
            status="in_progress",
            process_node="远程诊断",
            account_id=1,
            sla_due=at(1),
            created_at=at(-opened_days_ago),
            owner_id=2,
            department_id=2,
        )
    )


def _ticket_relevance(s: Session, **ticket: object) -> tuple[float, float]:
    """(relevance when the ticket's machine is another product, when it is the product the deal sells)."""
    opp(s, 1)
    s.flush()
    s.get(Opportunity, 1).product_id = 1  # type: ignore[union-attr]
    act(s, 1, 1, days_ago=1)
    _ticket(s, 1, **ticket)  # type: ignore[arg-type]
    s.commit()
    rs = load_records(Records(s, load_principal(s, "rep1")), default_config(), TODAY, [s.get(Opportunity, 1)], {1})  # type: ignore[list-item]
    unrelated = next(x for x in evaluate(rs, default_config()) if x.kind == "high_priority_ticket")
    rs.ticket_products = {1: 1}
    related = next(x for x in evaluate(rs, default_config()) if x.kind == "high_priority_ticket")
    return unrelated.relevance, related.relevance


def test_an_urgent_new_ticket_on_the_product_the_deal_sells_weighs_as_the_deals_own(session: Session) -> None:
    """Relevance: a ticket on another machine is service's job (0.6); urgent, recent, on this product: the deal's."""
    assert _ticket_relevance(session, priority="urgent", opened_days_ago=2) == (0.6, 1.0)


def test_a_merely_high_ticket_on_the_deals_product_is_still_the_service_teams_job(session: Session) -> None:
    assert _ticket_relevance(session, priority="high", opened_days_ago=2) == (0.6, 0.6)


def test_an_old_urgent_ticket_on_the_deals_product_is_the_service_teams_job(session: Session) -> None:
    days = default_config().ticket_threat_recent_days + 1
    assert _ticket_relevance(session, priority="urgent", opened_days_ago=days) == (0.6, 0.6)


def test_a_bare_competitor_mention_weighs_less_than_a_move(session: Session) -> None:
    opp(session, 1, account=1)
    opp(session, 2, account=2, owner=3)
    act(session, 1, 1, days_ago=3, body="内部备注：否则项目容易被通快TRUMPF截胡")
    act(session, 2, 2, days_ago=3, body="通快TRUMPF也报了价，还承诺三年质保", account=2, owner=3)
    mention = next(x for x in signals_for(session, "rep1", [1], {1}) if x.kind == "competitor_mentioned")
    move = next(x for x in signals_for(session, "rep2", [2], {2}) if x.kind == "competitor_mentioned")
    assert (mention.variant, move.variant) == ("mention", "move")
    assert mention.severity == pytest.approx(move.severity * default_config().competitor.mention_weight)


# --- rules at their thresholds ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("close", "days_ago", "fires"), [(90, 20, False), (90, 21, True), (90, 60, True), (30, 13, False), (30, 14, True)]
)
def test_stale_deal_threshold_is_shorter_near_the_close_date(
    session: Session, close: int, days_ago: int, fires: bool
) -> None:
    opp(session, 1, close=close)
    act(session, 1, 1, days_ago=days_ago)
    assert ("stale_deal" in kinds(signals_for(session, "rep1", [1], {1}))) is fires


def test_deal_without_any_activity_is_stale_from_creation(session: Session) -> None:
    opp(session, 1, created=-30)
    found = [x for x in signals_for(session, "rep1", [1], {1}) if x.kind == "stale_deal"]
    assert found and found[0].variant == "never" and found[0].facts["days"] == 30


def test_close_date_passed_only_on_open_stages(session: Session) -> None:
    opp(session, 1, close=-3)
    opp(session, 2, close=-3, stage="赢单")
    act(session, 1, 1, days_ago=1)
    found = signals_for(session, "rep1", [1, 2], {1})
    assert [x.opportunity_id for x in found if x.kind == "close_date_passed"] == [1]


@pytest.mark.parametrize(("in_stage", "fires"), [(21, False), (22, True)])
def test_stage_norm_from_config(session: Session, in_stage: int, fires: bool) -> None:
    opp(session, 1, stage="方案报价", entered=-in_stage)  # norm 21 days
    act(session, 1, 1, days_ago=1)
    assert ("stage_stuck" in kinds(signals_for(session, "rep1", [1], {1}))) is fires


def test_no_decision_maker_until_one_is_known_and_met(session: Session) -> None:
    opp(session, 1)
    opp(session, 2, stage="线索验证")  # early qualification: not yet a risk
    act(session, 1, 1, days_ago=1)
    found = [x for x in signals_for(session, "rep1", [1, 2], {1}) if x.kind == "no_decision_maker"]
    assert [(x.opportunity_id, x.variant) for x in found] == [(1, None)]
    session.add(Contact(id=3, account_id=1, name="周总", decision_role="决策者", owner_id=2, department_id=2))
    found = [x for x in signals_for(session, "rep1", [1], {1}) if x.kind == "no_decision_maker"]
    assert [x.variant for x in found] == ["never_met"] and found[0].facts["decider"] == "周总"
    act(session, 2, 1, days_ago=2, body="拜访周总，介绍方案")  # a call that names them: met
    assert "no_decision_maker" not in kinds(signals_for(session, "rep1", [1], {1}))


def test_competitor_from_config_and_from_the_deal_field(session: Session) -> None:
    opp(session, 1)
    act(session, 1, 1, days_ago=5, body="客户说通快TRUMPF报价低10%")
    act(session, 2, 1, days_ago=50, body="大族激光在做样机")  # older than 45 days: history, not a threat
    found = [x for x in signals_for(session, "rep1", [1], {1}) if x.kind == "competitor_mentioned"]
    assert found and found[0].facts["competitors"] == "通快TRUMPF"
    assert "crm:activity:1" in found[0].evidence and "crm:activity:2" not in found[0].evidence
    # A name only the deal's own competitor field knows is looked for too.
    opp(session, 2, account=2, owner=3)
    session.flush()
    session.get(Opportunity, 2).competitor = "星火激光"  # type: ignore[union-attr]
    act(session, 3, 2, days_ago=2, body="星火激光来过", account=2, owner=3)
    found2 = [x for x in signals_for(session, "rep2", [2], {2}) if x.kind == "competitor_mentioned"]
    assert found2 and found2[0].facts["competitors"] == "星火激光"


def test_ascii_competitor_needs_word_boundaries(session: Session) -> None:
    opp(session, 1)
    act(session, 1, 1, days_ago=3, body="ABBOTT lab visit")
    assert "competitor_mentioned" not in kinds(signals_for(session, "rep1", [1], {1}))


@pytest.mark.parametrize(("due", "kind"), [(-1, "receivable_overdue"), (7, "receivable_due"), (8, None)])
def test_receivable_windows(session: Session, due: int, kind: str | None) -> None:
    session.add(
        Contract(
            id=1,
            number="HT-1",
            account_id=1,
            amount=D(300000),
            signed_date=day(-100),
            start_date=day(-100),
            end_date=day(300),
            owner_id=2,
            department_id=2,
        )
    )
    session.add(Receivable(id=1, contract_id=1, seq=1, milestone="预付款", due_date=day(due), amount=D(90000)))
    found = {x.kind for x in signals_for(session, "rep1", [], {1})} & {"receivable_overdue", "receivable_due"}
    assert found == ({kind} if kind else set())


def test_paid_receivable_is_silent(session: Session) -> None:
    session.add(
        Contract(
            id=1,
            number="HT-1",
            account_id=1,
            amount=D(300000),
            signed_date=day(-100),
            start_date=day(-100),
            end_date=day(300),
            owner_id=2,
            department_id=2,
        )
    )
    session.add(
        Receivable(
            id=1,
            contract_id=1,
            seq=1,
            milestone="预付款",
            due_date=day(-30),
            amount=D(90000),
            paid_amount=D(90000),
            paid_date=day(-29),
        )
    )
    assert not signals_for(session, "rep1", [], {1})


@pytest.mark.parametrize(("october", "fires"), [(71_000, False), (70_000, True)])
def test_revenue_drop_against_previous_month(session: Session, october: int, fires: bool) -> None:
    for month, amount in [(7, 100_000), (8, 100_000), (9, 100_000), (10, october), (11, 1_000)]:
        session.add(AccountRevenue(account_id=2, month=dt.date(2026, month, 1), amount=D(amount)))
    found = [x for x in signals_for(session, "rep2", [], {2}) if x.kind == "revenue_drop"]
    assert bool(found) is fires  # the unfinished November never counts
    if fires:
        assert found[0].facts["month"] == "2026-10" and found[0].facts["drop_pct"] == 30


def test_open_high_ticket_but_not_closed_or_medium(session: Session) -> None:
    for tid, priority, status in [(1, "urgent", "in_progress"), (2, "high", "closed"), (3, "medium", "new")]:
        session.add(
            Ticket(
                id=tid,
                number=f"GD{tid}",
                subject="设备故障",
                priority=priority,
                status=status,
                process_node="上门巡检",
                account_id=1,
                sla_due=at(-1),
                owner_id=2,
                department_id=2,
            )
        )
    found = [x for x in signals_for(session, "rep1", [], {1}) if x.kind == "high_priority_ticket"]
    assert [x.evidence for x in found] == [("crm:ticket:1",)]
    assert found[0].variant == "breached"


@pytest.mark.parametrize(("ends", "fires"), [(60, True), (61, False)])
def test_warranty_window(session: Session, ends: int, fires: bool) -> None:
    session.add(
        Device(
            id=1,
            serial="LC3015-2024-0001",
            product_id=1,
            account_id=1,
            install_date=day(-700),
            warranty_end=day(ends),
            owner_id=4,
            department_id=3,
        )
    )
    assert ("warranty_ending" in kinds(signals_for(session, "rep1", [], {1}))) is fires


@pytest.mark.parametrize(("amount", "fires"), [(499_999, False), (500_000, True)])
def test_failed_dispatch_only_on_large_orders(session: Session, amount: int, fires: bool) -> None:
    opp(session, 1, stage="赢单", amount=amount, close=-20, dispatch="发货失败")
    assert ("dispatch_failed" in kinds(signals_for(session, "rep1", [1], {1}))) is fires


# --- permissions and field-level security --------------------------------------------------------


def test_hidden_contract_amount_is_neither_shown_nor_scored(session: Session) -> None:
    """rep1's role may not see contract amounts: the renewal says *** and scores as if ¥0."""
    session.add(
        Contract(
            id=1,
            number="HT-9",
            account_id=1,
            amount=D(2_345_678),
            signed_date=day(-300),
            start_date=day(-300),
            end_date=day(40),
            owner_id=2,
            department_id=2,
        )
    )
    principal_signals = [x for x in signals_for(session, "rep1", [], {1}) if x.kind == "contract_renewal"]
    assert principal_signals and principal_signals[0].value == 0.0
    rs = records_for(session, "rep1", {1})
    action = to_action(principal_signals[0], rs, "zh", "李销售")
    text = " ".join([action.title, action.reason, action.draft or ""])
    assert HIDDEN in action.reason
    for shown in ("2345678", "2,345,678", "234.57万", "234.5678"):
        assert shown not in text
    # The manager's role sees it.
    mgr_signal = next(x for x in signals_for(session, "mgr", [], {1}) if x.kind == "contract_renewal")
    assert mgr_signal.value == 2_345_678


def test_records_of_other_reps_are_not_read(session: Session) -> None:
    """rep2 asking about account 1 (rep1's) gets nothing from it: every query carries read_filter."""
    session.add(
        Contract(
            id=1,
            number="HT-1",
            account_id=1,
            amount=D(300000),
            signed_date=day(-100),
            start_date=day(-100),
            end_date=day(300),
            owner_id=2,
            department_id=2,
        )
    )
    session.add(Receivable(id=1, contract_id=1, seq=1, milestone="预付款", due_date=day(-3), amount=D(90000)))
    assert signals_for(session, "rep2", [], {1}) == []
    assert kinds(signals_for(session, "mgr", [], {1})) == ["receivable_overdue"]


def test_draft_in_the_contacts_language_reason_in_the_askers(session: Session) -> None:
    _contract(session)
    session.add(Receivable(id=1, contract_id=1, seq=2, milestone="到货款", due_date=day(-3), amount=D(90000)))
    found = signals_for(session, "mgr", [], {1})
    rs = records_for(session, "mgr", {1})
    zh, en = to_action(found[0], rs, "zh", "王经理"), to_action(found[0], rs, "en", "Wang")
    # 陈会计 is a Chinese contact: a Chinese draft even for an English UI; the reason follows the asker.
    assert zh.draft and zh.draft.startswith("陈会计您好") and "¥9万" in zh.draft  # the 财务 contact
    assert en.draft and en.draft.startswith("陈会计您好") and en.reason.startswith("华东重工")
    assert "overdue" in en.reason
    asked = to_action(found[0], rs, "zh", "王经理", language="en")  # "in English": the asker's word wins
    assert asked.draft and asked.draft.startswith("Hi 陈会计") and "RMB 90,000" in asked.draft
    assert zh.channel == "wecom" and zh.evidence == ["crm:receivable:1", "crm:contract:1"]
    session.get(Contact, 1).language = "en"  # type: ignore[union-attr]
    session.commit()
    rs = records_for(session, "mgr", {1})
    assert (to_action(found[0], rs, "zh", "王经理").draft or "").startswith("Hi 陈会计")


def test_formal_tone_keeps_the_body_and_its_facts(session: Session) -> None:
    _contract(session)
    session.add(Receivable(id=1, contract_id=1, seq=2, milestone="到货款", due_date=day(-3), amount=D(90000)))
    found = signals_for(session, "mgr", [], {1})
    rs = records_for(session, "mgr", {1})
    plain, formal = to_action(found[0], rs, "zh", "王经理"), to_action(found[0], rs, "zh", "王经理", tone="formal")
    assert formal.draft and formal.draft.startswith("尊敬的陈会计") and formal.draft.endswith("王经理")
    assert plain.draft and plain.draft.removeprefix("陈会计您好，") in formal.draft


# --- configuration and messages as data ---------------------------------------------------------


def test_a_mistyped_threshold_key_is_an_error(tmp_path: Path) -> None:
    raw = yaml.safe_load(THRESHOLDS_PATH.read_text(encoding="utf-8"))
    raw["stale"]["dayz"] = raw["stale"].pop("days")
    bad = tmp_path / "t.yaml"
    bad.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ValueError, match="dayz"):
        load_config(bad)


def test_every_kind_has_texts_in_both_locales() -> None:
    msgs = {k: v for k, v in messages().items() if not k.startswith("_")}
    for kind in SIGNAL_KINDS:
        assert msgs[kind]["channel"] in ("wecom", "email", "internal", "task")
        for part in ("title", "reason", "draft"):
            assert set(msgs[kind][part]) == {"zh", "en"}, (kind, part)
    for key, body in msgs.items():
        assert key.split(".")[0] in SIGNAL_KINDS, key
        for part, texts in body.items():
            if isinstance(texts, dict):
                for text in texts.values():
                    # str.format fields only: no attribute or index access in a message.
                    assert not re.search(r"\{[^}]*[.\[]", text), (key, part)
                    assert "@" not in text, (key, part)  # real names, never "@销售经理"


def test_money_is_formatted_per_locale() -> None:
    from skills.signals.render import format_money

    assert format_money(Money(79_900), "zh") == "¥7.99万"
    assert format_money(Money(5_000), "zh") == "¥5,000"
    assert format_money(Money(1_490_832), "en") == "RMB 1,490,832"


def test_never_met_weighs_full_only_when_the_deals_notes_say_so(session: Session) -> None:
    session.add(Contact(id=3, account_id=1, name="周总", decision_role="决策者", owner_id=2, department_id=2))
    opp(session, 1)
    act(session, 1, 1, days_ago=1, body="电话跟进采购")
    inferred = next(x for x in signals_for(session, "rep1", [1], {1}) if x.kind == "no_decision_maker")
    act(session, 2, 1, days_ago=2, body="内部备注：目前只接触到技术部，真正拍板的人还没见到")
    flagged = next(x for x in signals_for(session, "rep1", [1], {1}) if x.kind == "no_decision_maker")
    weight = default_config().decision_maker.inferred_weight
    assert inferred.severity == pytest.approx(flagged.severity * weight) and flagged.severity == 6


def _visit(s: Session, aid: int, oid: int | None, days_ago: int, contact: int) -> None:
    s.add(
        Activity(
            id=aid,
            kind="visit",
            subject="拜访",
            body="现场拜访",
            occurred_at=at(-days_ago),
            account_id=1,
            opportunity_id=oid,
            contact_id=contact,
            owner_id=2,
            department_id=2,
        )
    )


def _decider(s: Session) -> None:
    s.add(Contact(id=3, account_id=1, name="周总", decision_role="决策者", owner_id=2, department_id=2))
    opp(s, 1, stage="商务谈判")


def test_a_check_in_tied_to_no_deal_is_not_meeting_the_decision_maker(session: Session) -> None:
    _decider(session)
    _visit(session, 1, None, days_ago=5, contact=3)  # quarterly check-in on the installed machines
    assert "no_decision_maker" in kinds(signals_for(session, "rep1", [1], {1}))
    _visit(session, 2, 1, days_ago=3, contact=3)  # a visit about this deal
    assert "no_decision_maker" not in kinds(signals_for(session, "rep1", [1], {1}))


def test_the_reps_note_that_the_decider_is_not_met_stands_until_a_later_meeting_on_the_deal(session: Session) -> None:
    _decider(session)
    _visit(session, 1, 1, days_ago=30, contact=3)  # met the contact the CRM calls 决策者 …
    act(session, 2, 1, days_ago=10, body="内部备注：真正拍板的人还没见到，需要引荐总经理")  # … the rep says otherwise
    _visit(session, 3, None, days_ago=5, contact=3)  # a check-in after the note does not settle it
    found = next(x for x in signals_for(session, "rep1", [1], {1}) if x.kind == "no_decision_maker")
    assert found.severity == 6  # the rep's own word: full weight
    _visit(session, 4, 1, days_ago=2, contact=3)  # met them on this deal after the note
    assert "no_decision_maker" not in kinds(signals_for(session, "rep1", [1], {1}))


def test_a_shorter_draft_only_leaves_things_out() -> None:
    from skills.signals.render import shortened

    long = (
        "Hi Ann, this is Li. About the ABB offer: I made a comparison (lead time, warranty). "
        "Can we meet? I am on it. Which day?"
    )
    short = shortened(long)
    assert short == "Hi Ann, this is Li. About the ABB offer: I made a comparison. Which day?"
    assert all(part in long for part in short.split(". "))
