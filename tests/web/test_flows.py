"""The web app and the widget as their users meet them, in headless Chromium against a real server.

Each test is one flow from issue 11; records are picked from ownership facts of the demo organisation
(SQL here, not the permission policy under test), and what a flow wrote is checked in the database too.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import jwt
import pytest
from sqlalchemy import select

from copilot.api.app import create_app
from copilot.crm.models import Activity, Campaign, Contract, Opportunity, Ticket, TicketMessage, User
from copilot.service.runtime import Runtime
from copilot.store.models import Feedback
from copilot.store.tokens import revoke_tokens
from skills import compliance
from tests.api.conftest import LiveServer, serve
from tests.fakes.openai_server import FakeOpenAIServer
from tests.web.conftest import EMBED_SECRET, ask, by_testid, one, runtime_over, shot, sign_in, wait_for

CLOSED_STAGES = ("赢单", "输单")
# Watches the pending answer's text while the result has not arrived: the lengths it went through.
WATCH_STREAM = """
window.__partials = [];
new MutationObserver(() => {
  const el = document.querySelector('[data-testid="copilot-message"][aria-busy] .answer-text');
  if (el) window.__partials.push(el.textContent.length);
}).observe(document.body, {subtree: true, childList: true, characterData: true});
"""


def css(root: Any, selector: str) -> list[Any]:
    return list(root.find_elements("css selector", selector))


def user_id(runtime: Runtime, username: str) -> int:
    with runtime.sessions() as s:
        return int(s.scalar(select(User.id).where(User.username == username)))  # type: ignore[arg-type]


def open_deal_of(runtime: Runtime, username: str, index: int = 0) -> Opportunity:
    owner = user_id(runtime, username)
    with runtime.sessions() as s:
        deals = s.scalars(
            select(Opportunity)
            .where(Opportunity.owner_id == owner, Opportunity.partner_id.is_(None))
            .where(Opportunity.stage.not_in(CLOSED_STAGES))
            .order_by(Opportunity.id)
        ).all()
        s.expunge_all()
    return deals[index]


def related_items(driver: Any, section: str) -> list[Any]:
    return css(driver, f'[data-related="{section}"] .related-item')


# --- (a) ------------------------------------------------------------------------------------------


def test_a_rep_asks_in_chinese_answer_streams_with_citations_and_a_confirmed_action_is_logged(
    app_server: LiveServer, browser: Any, web_demo: Runtime
) -> None:
    deal = open_deal_of(web_demo, "rep_east_1")
    sign_in(browser, app_server.url, "rep_east_1", f"/records/opportunity/{deal.id}")
    one(browser, "copilot-panel")
    assert wait_for(lambda: css(browser, "#main h1")[0].text, "the deal's heading") == deal.name
    before = len(related_items(browser, "activities"))
    browser.execute_script(WATCH_STREAM)

    answer = ask(browser, "这个商机下一步该做什么？")
    shot(browser, "a1-answer-streamed-with-actions")
    # The text grew on screen before the result arrived (several partial lengths), not all at once.
    partials = {n for n in browser.execute_script("return window.__partials") if n}
    assert len(partials) >= 2, partials

    citations = css(answer, '[data-testid="copilot-citation"]')
    assert citations, answer.text
    for link in citations:
        assert link.text.strip() and not link.text.startswith(("crm:", "kb:")), link.text  # titled by name
        assert link.get_attribute("href").startswith(f"{app_server.url}/records/")

    card = one(browser, "action-card")
    draft = css(card, "textarea")[0].get_attribute("value")
    assert draft and draft not in css(answer, ".answer-text")[0].text  # the draft is on its card, once
    assert css(card, '[data-testid="draft-copy"]')
    css(card, '[data-testid="action-confirm"]')[0].click()
    wait_for(lambda: "已完成" in card.text, "the action confirmed")
    # The record page refreshed its activities: the follow-up is there, once.
    wait_for(lambda: len(related_items(browser, "activities")) == before + 1, "the new activity on the page")
    assert draft in css(browser, '[data-related="activities"]')[0].text
    browser.execute_script("arguments[0].scrollIntoView()", css(browser, '[data-related="activities"]')[0])
    shot(browser, "a2-action-confirmed-activity-on-record")
    with web_demo.sessions() as s:
        logged = s.scalars(
            select(Activity).where(Activity.opportunity_id == deal.id, Activity.body.contains(draft))
        ).all()
    assert len(logged) == 1

    # A citation opens the cited record's page.
    account_link = next(x for x in citations if "/records/account/" in x.get_attribute("href"))
    title = account_link.text
    account_link.click()
    wait_for(lambda: css(browser, "#main h1") and css(browser, "#main h1")[0].text == title, "the cited account")
    shot(browser, "a3-citation-opened-the-account")

    # Usable at 380 px: the record, then the panel, nothing wider than the screen.
    browser.set_window_size(380, 900)
    browser.get(f"{app_server.url}/records/opportunity/{deal.id}")
    wait_for(lambda: len(by_testid(browser, "copilot-message")) == 1, "the conversation kept for this deal")
    width, visible = browser.execute_script(
        "return [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert width <= visible, (width, visible)
    browser.execute_script("arguments[0].scrollIntoView()", one(browser, "copilot-panel"))
    shot(browser, "a4-deal-page-at-380px")


# --- (b) ------------------------------------------------------------------------------------------


def test_b_agent_inserts_a_reply_suggestion_edits_and_sends_it(
    app_server: LiveServer, browser: Any, web_demo: Runtime
) -> None:
    agent = user_id(web_demo, "service_agent_1")
    with web_demo.sessions() as s:
        ticket = s.scalars(
            select(Ticket)
            .where(Ticket.owner_id == agent, Ticket.status.not_in(("resolved", "closed")))
            .order_by(Ticket.id)
        ).first()
        assert ticket is not None
        ticket_id = ticket.id
    sign_in(browser, app_server.url, "service_agent_1", f"/records/ticket/{ticket_id}")
    one(browser, "reply-box")
    answer = ask(browser, "帮我回复客户")
    suggestion = css(answer, ".draft-text")[0].text
    one(browser, "reply-insert").click()
    box = one(browser, "reply-box")
    assert box.get_attribute("value").strip() == suggestion.strip()
    edit = "我们明天上午安排工程师上门复查。"
    box.send_keys(" " + edit)
    shot(browser, "b1-reply-inserted-and-edited")
    sent = box.get_attribute("value").strip()
    one(browser, "reply-send").click()
    wait_for(lambda: edit in css(browser, '[data-related="messages"]')[0].text, "the sent reply on the ticket")
    browser.execute_script("arguments[0].scrollIntoView()", related_items(browser, "messages")[-1])
    shot(browser, "b2-reply-sent-shown-on-ticket")
    with web_demo.sessions() as s:
        bodies = s.scalars(select(TicketMessage.body).where(TicketMessage.ticket_id == ticket_id)).all()
    assert bodies.count(sent) == 1
    # A reply typed without a suggestion goes the same way.
    one(browser, "reply-box").send_keys("另外，服务报告会在今天发到您的邮箱。")
    one(browser, "reply-send").click()
    wait_for(lambda: "服务报告会在今天发到" in css(browser, '[data-related="messages"]')[0].text, "the typed reply")

    # A troubleshooting answer cites the KB: its link opens the article.
    answer = ask(browser, "这个报警怎么排查？")
    links = css(answer, '[data-testid="copilot-citation"]')
    article = next(x for x in links if "/records/kb/" in x.get_attribute("href"))
    title = article.text
    article.click()
    wait_for(lambda: css(browser, ".kb-article h1") and css(browser, ".kb-article h1")[0].text == title, "the article")
    assert len(css(browser, ".kb-text")[0].text) > 100
    shot(browser, "b3-kb-article-opened-from-citation")


# --- (c) ------------------------------------------------------------------------------------------


@pytest.fixture
def model_server(fake_openai: FakeOpenAIServer, web_demo: Runtime) -> Iterator[LiveServer]:
    """The same organisation answered by a configured model (the fake OpenAI-compatible server)."""
    settings = fake_openai.settings(llm_max_retries=0)
    runtime = runtime_over(web_demo, **{k: getattr(settings, k) for k in (
        "llm_provider", "openai_base_url", "openai_api_key", "llm_model", "llm_timeout_s", "llm_max_retries")})
    with serve(create_app(runtime, warm_up=False)) as server:
        yield server
    del runtime.__dict__["kb"]
    runtime.close()


def test_c_marketer_sees_two_channels_side_by_side_and_the_wording_that_was_changed(
    model_server: LiveServer, fake_openai: FakeOpenAIServer, browser: Any, web_demo: Runtime
) -> None:
    with web_demo.sessions() as s:
        campaign = s.scalars(select(Campaign).order_by(Campaign.id)).first()
        assert campaign is not None
        campaign_id = campaign.id
    # The model writes claims the ad law forbids; the page must show what the check changed.
    fake_openai.reply(json.dumps({"variants": [
        {"channel": "wecom", "body": "LC-3015 行业第一的激光切割机，欢迎到场体验。"},
        {"channel": "wecom", "body": "最先进的切割工艺，现场演示等你来。"},
        {"channel": "sms", "body": "【星衡智能】行业第一 LC-3015 现场演示，回T退订"},
        {"channel": "sms", "body": "【星衡智能】最先进工艺现场看，回T退订"},
    ]}, ensure_ascii=False))  # fmt: skip
    sign_in(browser, model_server.url, "marketer_1", f"/records/campaign/{campaign_id}")
    answer = ask(browser, "为这个活动写企业微信和短信两个渠道的推广文案，各两版")
    columns = css(answer, ".variants .channel")
    assert [c.get_attribute("data-channel") for c in columns] == ["wecom", "sms"], answer.text
    left, right = (c.rect for c in columns)
    assert abs(left["y"] - right["y"]) < 2 and right["x"] > left["x"] + left["width"] - 2  # side by side
    shown = " ".join(x.text for x in css(answer, ".variant .value"))
    assert compliance.find_banned(shown) == []
    check = css(answer, ".wording-check")[0]
    changed = {x.text for x in css(check, "del")}
    assert {"第一", "最先进"} <= changed, check.text
    assert all(x.text for x in css(check, "ins"))  # each with what it became
    browser.execute_script("arguments[0].scrollIntoView()", answer)
    shot(browser, "c1-marketing-variants-side-by-side-with-wording-check")
    browser.set_window_size(380, 900)
    browser.execute_script("arguments[0].scrollIntoView()", check)
    shot(browser, "c2-marketing-at-380px")


# --- (d) ------------------------------------------------------------------------------------------


def test_d_a_follow_up_in_the_same_panel_refines_the_previous_answer(
    app_server: LiveServer, browser: Any, web_demo: Runtime
) -> None:
    with web_demo.sessions() as s:
        campaign_id = s.scalars(select(Campaign.id).order_by(Campaign.id)).first()
    sign_in(browser, app_server.url, "marketer_1", f"/records/campaign/{campaign_id}")
    first = ask(browser, "为这个活动写一条企业微信推广文案")
    before = css(first, ".variant .value")[0].text
    second = ask(browser, "再短一点")
    after = css(second, ".variant .value")[0].text
    assert len(by_testid(browser, "copilot-message")) == 2
    assert 0 < len(after) < len(before), (before, after)
    shot(browser, "d1-follow-up-refined-shorter")
    # One conversation, kept for this record: a reload shows both turns again.
    browser.refresh()
    wait_for(lambda: len(by_testid(browser, "copilot-message")) == 2, "the conversation restored")
    assert after in by_testid(browser, "copilot-message")[1].text

    # One rating per answer, changeable, with an optional comment.
    rated = by_testid(browser, "copilot-message")[1]
    trace_id = rated.get_attribute("data-trace-id")
    css(rated, '[data-testid="feedback-up"]')[0].click()
    wait_for(lambda: css(rated, '[data-testid="feedback-up"]')[0].get_attribute("aria-pressed") == "true", "rated up")
    css(rated, '[data-testid="feedback-down"]')[0].click()
    wait_for(lambda: css(rated, '[data-testid="feedback-down"]')[0].get_attribute("aria-pressed") == "true", "changed")
    css(rated, ".feedback-comment input")[0].send_keys("活动已经结束了，不该再邀请")
    css(rated, ".feedback-comment button")[0].click()
    wait_for(lambda: "已收到说明" in rated.text, "the comment saved")
    shot(browser, "d2-feedback-changed-with-comment")
    with web_demo.sessions() as s:
        rows = s.scalars(select(Feedback).where(Feedback.trace_id == trace_id)).all()
        assert [(r.rating, r.comment) for r in rows] == [("down", "活动已经结束了，不该再邀请")]


# --- errors ---------------------------------------------------------------------------------------


def test_an_error_takes_the_place_of_the_pending_answer_and_the_question_is_kept(
    app_server: LiveServer, browser: Any, web_demo: Runtime
) -> None:
    deal = open_deal_of(web_demo, "rep_east_2")
    sign_in(browser, app_server.url, "rep_east_2", f"/records/opportunity/{deal.id}")
    ask(browser, "这个商机现在到哪个阶段了？")
    with web_demo.sessions() as s:  # the session ends under the user's feet (an admin revoked it)
        revoke_tokens(s, "rep_east_2")
        s.commit()
    failed = ask(browser, "这个商机下一步该做什么？")
    alert = css(failed, '[role="alert"]')[0]
    assert "登录已过期" in alert.text and alert.is_displayed()
    # Right under the question it answers, in the panel's visible part; the question back in the box.
    assert failed == by_testid(browser, "copilot-message")[-1]
    panel = one(browser, "copilot-panel").rect
    assert panel["y"] <= alert.rect["y"] <= panel["y"] + panel["height"]
    assert one(browser, "copilot-input").get_attribute("value") == "这个商机下一步该做什么？"
    shot(browser, "g1-error-in-place-of-the-answer")


# --- (e) ------------------------------------------------------------------------------------------


def test_e_partner_opening_an_internal_record_sees_not_found_and_none_of_its_text(
    app_server: LiveServer, browser: Any, web_demo: Runtime
) -> None:
    internal = open_deal_of(web_demo, "rep_east_1")
    sign_in(browser, app_server.url, "partner_user_1", f"/records/opportunity/{internal.id}")
    wait_for(lambda: "未找到" in css(browser, "#main")[0].text, "not found")
    time.sleep(0.5)  # nothing arrives later either
    assert internal.name not in browser.page_source
    assert str(internal.amount).split(".")[0] not in css(browser, "#main")[0].text
    assert not [p for p in by_testid(browser, "copilot-panel") if p.is_displayed()]
    shot(browser, "e1-partner-internal-record-not-found")

    # Their own company's contract: shown as the CRM shows it to them, our margin masked.
    partner_company = web_demo_partner_id(web_demo)
    with web_demo.sessions() as s:
        contract = s.scalars(
            select(Contract).where(Contract.partner_id == partner_company).order_by(Contract.id)
        ).first()
        assert contract is not None and contract.margin is not None
        contract_id, number, margin_value = contract.id, contract.number, contract.margin
    browser.get(f"{app_server.url}/records/contract/{contract_id}")
    margin = wait_for(lambda: css(browser, '[data-field="margin"]'), "the contract's margin row")[0]
    assert "无权查看" in margin.text and css(margin, ".masked")
    assert number in css(browser, "#main h1")[0].text
    assert f"{margin_value:g}" not in css(browser, "#main")[0].text
    shot(browser, "e2-partner-own-contract-margin-masked")


def web_demo_partner_id(runtime: Runtime) -> int:
    with runtime.sessions() as s:
        return int(s.scalar(select(User.partner_id).where(User.username == "partner_user_1")))  # type: ignore[arg-type]


# --- (f) ------------------------------------------------------------------------------------------


def assertion(username: str, *, secret: str = EMBED_SECRET, exp_in_s: int = 300) -> str:
    now = int(time.time())
    return jwt.encode({"sub": username, "iat": now - 600 if exp_in_s < 0 else now, "exp": now + exp_in_s},
                      secret, algorithm="HS256")  # fmt: skip


def test_f_widget_on_a_host_page_of_another_origin_works_and_refuses_bad_assertions(
    app_server: LiveServer, host_server: Callable[[Callable[[str], str]], None], host_origin: str,
    browser: Any, web_demo: Runtime,
) -> None:
    deal = open_deal_of(web_demo, "rep_east_1", 1)
    page = f"{host_origin}/?user=rep_east_1&object=opportunity:{deal.id}"
    assert host_origin.split(":")[1] != app_server.url.split(":")[1]  # localhost vs 127.0.0.1

    host_server(lambda user: assertion(user))
    browser.get(page)
    browser.switch_to.frame(one(browser, "copilot-widget"))
    one(browser, "copilot-panel")
    answer = ask(browser, "这个商机现在到哪个阶段了？")
    assert deal.stage in answer.text and css(answer, '[data-testid="copilot-citation"]')
    browser.switch_to.default_content()
    shot(browser, "f1-widget-on-host-page-answering")

    for name, sign in (("forged", lambda user: assertion(user, secret="not-the-host-secret-" + "x" * 20)),
                       ("expired", lambda user: assertion(user, exp_in_s=-120))):  # fmt: skip
        host_server(sign)
        browser.get(page)
        browser.switch_to.frame(one(browser, "copilot-widget"))
        refusal = one(browser, "widget-error")
        assert "无效或已过期" in refusal.text, refusal.text
        assert not by_testid(browser, "copilot-panel")
        browser.switch_to.default_content()
        shot(browser, f"f2-widget-refuses-{name}-assertion")
