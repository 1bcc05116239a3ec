"""next_best_action on the demo org: what a rep or a manager would notice."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from copilot.core.errors import BadRequest, NotFound
from copilot.crm.models import Opportunity, Receivable, User
from copilot.crm.permissions import can
from copilot.crm.principal import load_principal
from copilot.service.runtime import Runtime
from skills.base import PageContext, SkillContext, SkillRequest, SkillResult
from skills.next_best_action import run

try:  # one demo organisation for the whole suite, when the CRM fixtures provide it
    from tests.crm.conftest import demo_runtime
except ImportError:
    _BUILT: dict[str, Runtime] = {}  # test_ticket_lookup imports this fixture too: build the demo once

    @pytest.fixture(scope="session")
    def demo_runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
        from copilot.core.settings import Settings
        from copilot.demo.install import init_demo

        if "demo" not in _BUILT:
            data_dir = tmp_path_factory.mktemp("skills-demo")
            runtime = Runtime(Settings(data_dir=data_dir, database_url=f"sqlite:///{data_dir / 'crm.sqlite3'}"))
            init_demo(runtime, ingest_kb=False)
            _BUILT["demo"] = runtime
        yield _BUILT["demo"]


__all__ = ["demo_runtime"]
TODAY = dt.date(2026, 11, 20)  # the demo's pinned day


@pytest.fixture
def session(demo_runtime: Runtime) -> Iterator[Session]:
    with demo_runtime.sessions() as s:
        yield s
        s.rollback()


def ask(
    session: Session,
    runtime: Runtime,
    username: str,
    *,
    opp: int | None = None,
    account: int | None = None,
    scope: str | None = None,
    locale: str = "zh",
) -> tuple[SkillResult, SkillContext]:
    context = None
    if opp is not None:
        context = PageContext(object_type="opportunity", object_id=opp)
    elif account is not None:
        context = PageContext(object_type="account", object_id=account)
    ctx = runtime.assistant.context(session, load_principal(session, username), locale=locale)  # type: ignore[arg-type]
    req = SkillRequest(message="下一步", input={"scope": scope} if scope else {}, context=context)
    return run(req, ctx, today=TODAY), ctx


def everything_said(result: SkillResult) -> str:
    parts = [result.answer] + [f"{a.title} {a.reason} {a.draft or ''}" for a in result.actions]
    return "\n".join(parts)


def test_overdue_payment_ranks_above_a_stale_deal(session: Session, demo_runtime: Runtime) -> None:
    # 南京金陵's DeviceCloud deal (¥25万, 需求确认): silent for 25 days, and ¥71,400 of the account unpaid since March.
    result, _ = ask(session, demo_runtime, "rep_east_1", opp=18)
    kinds = [a.kind for a in result.actions]
    assert kinds[0] == "receivable_overdue"
    assert "stale_deal" in kinds and kinds.index("stale_deal") > 0
    top = result.actions[0]
    assert "XH-202602-0006" in top.reason and "逾期" in top.reason
    assert top.draft and "您好" in top.draft and top.channel == "wecom"


def test_a_small_overdue_fee_does_not_outrank_a_price_objection(session: Session, demo_runtime: Runtime) -> None:
    """The issue's case: 上海浦江's ¥5,340 overdue service fee used to come before 王娜's open price objection
    against ABB (deal 23). The objection comes first; the draft goes to 王娜, signed by the asker."""
    result, _ = ask(session, demo_runtime, "sales_mgr_east", opp=23)
    kinds = [a.kind for a in result.actions]
    assert kinds[0] == "competitor_mentioned" and "receivable_overdue" in kinds[1:]
    top = result.actions[0]
    assert "crm:activity:81" in top.evidence and "ABB" in top.title
    assert top.draft and top.draft.startswith("王娜您好，我是王志强")


def test_the_deals_silence_before_close_outranks_account_tickets(session: Session, demo_runtime: Runtime) -> None:
    """华东重工 LC-3015 (deal 1): 19 days silent, closing 2026-12-18; an urgent ticket on the account is the
    service team's. The deal's own silence comes first."""
    result, _ = ask(session, demo_runtime, "rep_east_1", opp=1)
    assert result.actions[0].kind == "stale_deal"
    assert "high_priority_ticket" in [a.kind for a in result.actions]


def test_the_reps_own_note_that_the_decider_is_unmet_outranks_the_accounts_service_tickets(
    session: Session, demo_runtime: Runtime
) -> None:
    # 苏州精锐's LC-3015 deal (商务谈判, ¥65万): the rep's 11-01 note says the real decision maker is not met
    # yet; the account's two high (not urgent) tickets are the service team's job, chased as one action.
    result, _ = ask(session, demo_runtime, "rep_east_1", opp=6)
    kinds = [a.kind for a in result.actions]
    assert kinds[0] == "no_decision_maker"
    assert kinds.count("high_priority_ticket") == 1
    tickets = [s for s in result.data["signals"] if s["kind"] == "high_priority_ticket"]
    assert len(tickets) >= 2
    action = next(a for a in result.actions if a.kind == "high_priority_ticket")
    for t in tickets:  # the folded tickets are named and cited on the one action
        assert t["facts"]["number"] in action.reason and t["evidence"][0] in action.evidence


def test_on_a_deal_page_an_accounts_tickets_are_one_action(session: Session, demo_runtime: Runtime) -> None:
    folded = 0
    for opp_id in sorted(_chain_deals(session, "sales_mgr_east")):
        result, _ = ask(session, demo_runtime, "sales_mgr_east", opp=opp_id)
        assert [a.kind for a in result.actions].count("high_priority_ticket") <= 1, opp_id
        folded += sum(s["kind"] == "high_priority_ticket" for s in result.data["signals"]) > 1
    assert folded  # the demo has accounts with several open tickets: the check above was exercised


def test_failed_dispatch_of_a_large_order_comes_first(session: Session, demo_runtime: Runtime) -> None:
    result, _ = ask(session, demo_runtime, "rep_south_1", opp=98, locale="en")
    assert result.actions[0].kind == "dispatch_failed"
    assert result.actions[0].channel == "internal" and "logistics team" in (result.actions[0].draft or "")
    assert result.answer.startswith("Next steps") or "1." in result.answer


def test_no_placeholders_in_any_draft(session: Session, demo_runtime: Runtime) -> None:
    """Drafts name real people from the records (the contact, the rep, a ticket's assignee)."""
    for username in ("rep_east_1", "rep_east_2", "rep_south_1", "sales_mgr_east"):
        result, _ = ask(session, demo_runtime, username, scope="mine")
        for action in result.actions:
            assert "@" not in (action.draft or ""), action.draft
            assert "处理人" not in (action.draft or "") and "销售经理" not in (action.draft or "")


def test_a_deal_the_rep_cannot_see_is_not_found(session: Session, demo_runtime: Runtime) -> None:
    with pytest.raises(NotFound):
        ask(session, demo_runtime, "rep_east_2", opp=1)  # rep_east_1's, rep_east_2 is not on its team
    with pytest.raises(BadRequest):
        ctx = demo_runtime.assistant.context(session, load_principal(session, "rep_east_1"))
        run(SkillRequest(input={"scope": "record"}), ctx, today=TODAY)


def _chain_deals(session: Session, username: str) -> set[int]:
    """Open deals, and deals won in the last year, owned by the user or anyone reporting to them."""
    me = session.scalar(select(User.id).where(User.username == username))
    reports = set(session.scalars(select(User.id).where(User.manager_id == me)))
    won_since = TODAY - dt.timedelta(days=365)
    q = select(Opportunity.id).where(
        Opportunity.owner_id.in_(reports | {me}),
        or_(
            Opportunity.stage.in_(["线索验证", "需求确认", "方案报价", "商务谈判"]),
            (Opportunity.stage == "赢单") & (Opportunity.close_date >= won_since),
        ),
    )
    return set(session.scalars(q))


def test_managers_mine_covers_the_reports_deals(session: Session, demo_runtime: Runtime) -> None:
    result, _ = ask(session, demo_runtime, "sales_mgr_east", scope="mine")
    expected = _chain_deals(session, "sales_mgr_east")
    rep_deals = _chain_deals(session, "rep_east_1") | _chain_deals(session, "rep_east_2")
    assert rep_deals and rep_deals <= expected
    assert result.data["answer_vars"]["deals_considered"] == len(expected)
    ranked = {d["opportunity_id"] for d in result.data["deals"]}
    assert ranked & rep_deals  # the manager's top deals include the reps' deals
    # A rep's own scope is only their deals.
    mine, _ = ask(session, demo_runtime, "rep_east_1", scope="mine")
    assert mine.data["answer_vars"]["deals_considered"] == len(_chain_deals(session, "rep_east_1"))
    owners = {session.get(Opportunity, d["opportunity_id"]).owner_id for d in mine.data["deals"]}  # type: ignore[union-attr]
    assert owners == {session.scalar(select(User.id).where(User.username == "rep_east_1"))}


def test_mine_gives_one_best_action_per_deal_without_repeating_one(session: Session, demo_runtime: Runtime) -> None:
    result, _ = ask(session, demo_runtime, "rep_east_1", scope="mine")
    assert len(result.actions) == 5
    assert len({d["opportunity_id"] for d in result.data["deals"]}) == 5
    keys = [(a.kind, tuple(a.evidence)) for a in result.actions]
    assert len(set(keys)) == len(keys)
    scores = [a.score for a in result.actions]
    assert scores == sorted(scores, reverse=True)


def test_citations_are_evidence_the_asker_may_read(session: Session, demo_runtime: Runtime) -> None:
    for username, kwargs in [
        ("rep_east_1", {"scope": "mine"}),
        ("rep_south_1", {"account": 42}),
        ("sales_mgr_east", {"opp": 22}),
    ]:
        result, ctx = ask(session, demo_runtime, username, **kwargs)  # type: ignore[arg-type]
        evidence = {e for a in result.actions for e in a.evidence}
        principal = load_principal(session, username)
        assert result.citations
        for c in result.citations:
            assert c.id in evidence and c.id in ctx.retrieved
            _, object_type, rid = c.id.split(":")
            assert can(session, principal, object_type, int(rid)), c.id


def test_service_manager_sees_no_payment_amounts(session: Session, demo_runtime: Runtime) -> None:
    """The demo hides receivable and contract amounts from service roles: the overdue instalment is
    still flagged (the due date is visible) but its amount reads *** everywhere."""
    instalment = session.get(Receivable, 83)
    assert instalment is not None and instalment.amount == 79900  # the value that must not show
    rep, _ = ask(session, demo_runtime, "rep_east_1", account=24)
    mgr, _ = ask(session, demo_runtime, "service_mgr", account=24)
    rep_top = next(a for a in rep.actions if a.kind == "receivable_overdue")
    mgr_top = next(a for a in mgr.actions if a.kind == "receivable_overdue")
    assert "¥7.99万" in rep_top.reason
    said = everything_said(mgr) + str(mgr.data)
    for shown in ("7.99万", "79,900", "79900"):
        assert shown not in said
    assert "***" in mgr_top.reason
    # Deals are private to sales: the service manager's view has none of them.
    assert mgr.data["answer_vars"]["deals_considered"] == 0


def test_english_ui_chinese_contact_gets_a_chinese_draft(session: Session, demo_runtime: Runtime) -> None:
    result, _ = ask(session, demo_runtime, "rep_east_2", opp=16, locale="en")
    assert "逾期" not in result.answer  # the reasons are in the asker's language
    customer = [a for a in result.actions if a.channel == "wecom" and a.draft]
    assert customer and all("您好" in (a.draft or "") for a in customer)  # 合肥长信's contacts are Chinese
    assert all(not (a.draft or "").startswith("Hi ") for a in customer)


def test_a_managers_view_of_the_teams_deals_at_risk(session: Session, demo_runtime: Runtime) -> None:
    ctx = demo_runtime.assistant.context(session, load_principal(session, "sales_mgr_east"))
    result = run(SkillRequest(message="团队里哪些商机有风险"), ctx, today=TODAY)
    assert result.data["scope"] == "mine"
    owners = {d["owner"] for d in result.data["deals"]}
    assert owners & {"李娜", "陈浩"}  # the reps' deals, each labelled with its owner
    top = result.actions[0]
    assert top.kind == "competitor_mentioned" and "（李娜）" in top.title and "crm:activity:316" in top.evidence
    assert top.draft and "我是李娜" in top.draft  # the rep who owns the deal signs the draft


def test_a_follow_up_refines_the_named_actions_draft(session: Session, demo_runtime: Runtime) -> None:
    """ "把第二条建议的草稿改得更正式一点" after the first answer on deal 23: same record, second draft formal."""
    from skills.base import PriorTurn

    first, _ = ask(session, demo_runtime, "sales_mgr_east", opp=23)
    prior = PriorTurn(
        message="下一步",
        skill="next_best_action",
        answer=first.answer,
        context=PageContext(object_type="opportunity", object_id=23),
        actions=[a.model_dump() for a in first.actions],
        data={"scope": first.data["scope"]},
    )
    ctx = demo_runtime.assistant.context(session, load_principal(session, "sales_mgr_east"))
    follow = run(SkillRequest(message="把第二条建议的草稿改得更正式一点", history=[prior]), ctx, today=TODAY)
    assert follow.data["follow_up"] and follow.data["focus"] == 2
    assert follow.data["context"] == {"object_type": "opportunity", "object_id": 23}
    second = follow.actions[1]
    assert second.kind == first.actions[1].kind and second.draft and second.draft.startswith("尊敬的")
    assert follow.actions[0].draft == first.actions[0].draft  # only the second one changed
    assert second.draft in follow.answer and "第 2 条" in follow.answer


def test_healthy_deal_says_so(session: Session, demo_runtime: Runtime) -> None:
    result, _ = ask(session, demo_runtime, "rep_east_1", opp=51)
    assert result.actions == [] and result.citations == []
    assert "没有" in result.answer


def test_eval_precision_at_1_floor(demo_runtime: Runtime) -> None:
    from eval.skill_cases import run_all

    report: dict[str, Any] = run_all(demo_runtime, TODAY, skills=("next_best_action",))
    # The gated set: deals read by hand from a sales manager's side (eval/datasets/next_best_action_users.yaml).
    users = report["next_best_action_users"]
    assert users["cases"] >= 20
    assert users["precision_at_1"] >= 0.8, users["failures"]
    # The round-one set (ranked with the old fixed-severity formula) is still run: no leaks on it either.
    for part in (users, report["next_best_action"]):
        assert part["fls_leaks"] == 0 and part["citations_outside"] == 0, part["failures"]


def test_the_eval_leak_checks_can_fail(session: Session, demo_runtime: Runtime) -> None:
    """The zero-leak numbers mean something only if the checks catch a planted leak."""
    from eval.skill_cases import citations_outside, fls_leaks
    from skills.base import Action, Citation

    principal = load_principal(session, "service_mgr")
    planted = SkillResult(
        skill="next_best_action",
        answer="合同第2期应收 ¥7.99万 已逾期",
        actions=[Action(kind="receivable_overdue", title="t", evidence=["crm:receivable:83"])],
        citations=[Citation(type="crm", id="crm:opportunity:1", title="x")],
        warnings=["citations_dropped_not_retrieved"],  # what Assistant.turn says when it had to drop one
    )
    assert fls_leaks(session, principal, planted) == ["crm:receivable:83.amount=¥7.99万"]
    assert citations_outside(session, principal, planted)[0] == "(citations dropped: not retrieved this turn)"
    outsider = load_principal(session, "rep_east_2")  # opportunity 1 is rep_east_1's, not on rep_east_2's team
    assert "crm:opportunity:1 (not readable)" in citations_outside(session, outsider, planted)


def test_scope_follows_the_question_when_not_given(session: Session, demo_runtime: Runtime) -> None:
    ctx = demo_runtime.assistant.context(session, load_principal(session, "rep_east_1"))
    page = PageContext(object_type="opportunity", object_id=18)
    on_page = run(SkillRequest(message="这个单子下一步我该做什么", context=page), ctx, today=TODAY)
    pipeline = run(SkillRequest(message="我手上哪些商机最需要跟进", context=page), ctx, today=TODAY)
    assert on_page.data["scope"] == "record" and pipeline.data["scope"] == "mine"
    assert pipeline.data["answer_vars"]["deals_considered"] > 1


def test_on_a_ticket_page_the_next_step_is_for_the_tickets_customer(session: Session, demo_runtime: Runtime) -> None:
    """Asked on a ticket (86, 华东重工's urgent ticket) the answer is the customer's, as on its account page —
    not a 400 telling the rep to open another page."""
    ctx = demo_runtime.assistant.context(session, load_principal(session, "rep_east_1"), locale="zh")  # type: ignore[arg-type]
    page = PageContext(object_type="ticket", object_id=86)
    on_ticket = run(SkillRequest(message="下一步", context=page), ctx, today=TODAY)
    on_account, _ = ask(session, demo_runtime, "rep_east_1", account=1)
    assert on_ticket.actions and [a.kind for a in on_ticket.actions] == [a.kind for a in on_account.actions]
    assert on_ticket.data["answer_vars"]["page_type"] == "account"
    assert on_ticket.data["answer_vars"]["subject"] == "华东重工机械股份有限公司"


def test_on_a_page_with_no_customer_it_is_the_askers_pipeline(session: Session, demo_runtime: Runtime) -> None:
    ctx = demo_runtime.assistant.context(session, load_principal(session, "rep_east_1"), locale="zh")  # type: ignore[arg-type]
    page = PageContext(object_type="product", object_id=1)
    on_product = run(SkillRequest(message="下一步", context=page), ctx, today=TODAY)
    mine, _ = ask(session, demo_runtime, "rep_east_1", scope="mine")
    assert on_product.actions and [a.kind for a in on_product.actions] == [a.kind for a in mine.actions]
