"""reply_suggestion: the customer's language and register, grounded, and no invented promises."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import select

from copilot.crm.models import Ticket, TicketMessage, User
from copilot.crm.principal import load_principal
from copilot.service.runtime import Runtime
from skills.base import PageContext, SkillRequest
from skills.promise_guard import guard
from tests.skills.skill_support import ask, with_fake_model


def _open_ticket(runtime: Runtime) -> Ticket:
    with runtime.sessions() as s:
        q = select(Ticket).where(
            Ticket.status == "in_progress", Ticket.assignee_id.is_not(None), Ticket.device_id.is_not(None)
        )
        ticket = s.scalars(q.order_by(Ticket.id)).first()
    assert ticket is not None
    return ticket


def test_offline_draft_is_grounded_in_the_ticket(skills_runtime: Runtime) -> None:
    ticket = _open_ticket(skills_runtime)
    with skills_runtime.sessions() as s:
        assignee = s.scalar(select(User.display_name).where(User.id == ticket.assignee_id))
    assert assignee is not None
    result = ask(skills_runtime, "service_agent_1", "reply_suggestion", "帮我回复客户", f"ticket:{ticket.id}")
    assert ticket.number in result.answer and ticket.process_node in result.answer and assignee in result.answer
    assert "您好" in result.answer and "亲" not in result.answer
    assert result.data["language"] == "zh"
    cited = {c.id for c in result.citations}
    assert f"crm:ticket:{ticket.id}" in cited and "service-customer-reply-etiquette" in result.data["sources"]


def test_guard_catches_a_model_promising_a_visit_time_and_free_parts(skills_runtime: Runtime, fake_openai: Any) -> None:
    ticket = _open_ticket(skills_runtime)
    fake_openai.reply("王工您好，工程师明天上午10点到场，免费更换喷嘴。请先确认设备已断电。")
    result = ask(
        with_fake_model(skills_runtime, fake_openai),
        "service_agent_1",
        "reply_suggestion",
        "帮我回复客户",
        f"ticket:{ticket.id}",
    )
    assert result.provider == "openai"
    for promise in ("明天", "10点", "免费"):
        assert promise not in result.answer
    assert "请先确认设备已断电" in result.answer and "确认后会尽快告知您" in result.answer
    assert "unsupported_promises_removed" in result.warnings
    assert {h["kind"] for h in result.data["guard"]["hits"]} >= {"relative_day", "time", "promise"}
    assert "内部：" not in fake_openai.all_request_text()  # internal notes never reach the model


def test_guard_keeps_dates_the_records_hold() -> None:
    kept = guard("SLA 截止 2026-11-20，我们会按时处理。", "SLA 截止: 2026-11-20 20:10")
    assert kept.text == "SLA 截止 2026-11-20，我们会按时处理。" and not kept.removed
    dropped = guard("备件 2026-12-01 到货，费用 500 元。", "工单号: GD1")
    assert "2026-12-01" not in dropped.text and "500 元" not in dropped.text


def test_english_customer_gets_an_english_reply(skills_runtime: Runtime) -> None:
    ticket = _open_ticket(skills_runtime)
    with skills_runtime.sessions() as s:
        s.add(
            TicketMessage(
                ticket_id=ticket.id,
                author_kind="customer",
                author_name="Thomas Becker",
                body="Hello, the machine still stops with the same alarm. Any update?",
                sent_at=dt.datetime(2030, 1, 1, 9, 0),
            )
        )
        s.flush()
        result = ask(
            skills_runtime, "service_agent_1", "reply_suggestion", "帮我回复客户", f"ticket:{ticket.id}", session=s
        )
        s.rollback()
    assert result.data["language"] == "en"
    assert result.answer.startswith(("Dear", "Hi")) and ticket.number in result.answer
    assert f"Your ticket {ticket.number} is" in result.answer and "您好" not in result.answer
    assert json.dumps(result.data["guard"]["removed"]) == "[]"


def _ticket_where_customer_did_the_checks(runtime: Runtime) -> Ticket:
    from skills.instructions import checks_done

    with runtime.sessions() as s:
        for ticket in s.scalars(select(Ticket).where(Ticket.error_code.is_not(None)).order_by(Ticket.id)):
            bodies = list(
                s.scalars(
                    select(TicketMessage.body)
                    .where(TicketMessage.ticket_id == ticket.id, TicketMessage.author_kind == "customer")
                    .order_by(TicketMessage.sent_at)
                )
            )
            if bodies and checks_done(bodies[-1]):
                return ticket
    raise AssertionError("the demo has a ticket whose customer reports the checks done")


def test_the_agents_plan_is_in_the_reply_and_done_checks_are_not_asked_again(skills_runtime: Runtime) -> None:
    ticket = _ticket_where_customer_did_the_checks(skills_runtime)
    result = ask(
        skills_runtime,
        "service_mgr",
        "reply_suggestion",
        "帮我回复客户，告诉他工程师明天上午上门",
        f"ticket:{ticket.id}",
    )
    draft = result.data["draft"]
    assert "工程师明天上午上门" in draft  # the agent's own plan: not removed by the promise guard
    assert "您可以先请现场同事检查" not in draft and "感谢您按建议完成了检查" in draft
    assert "unsupported_promises_removed" not in result.warnings


def test_follow_ups_refine_the_same_draft(skills_runtime: Runtime) -> None:
    ticket = _ticket_where_customer_did_the_checks(skills_runtime)
    with skills_runtime.sessions() as s:
        principal = load_principal(s, "service_mgr")
        page = PageContext(object_type="ticket", object_id=ticket.id)
        first = skills_runtime.assistant.turn(
            s,
            principal,
            SkillRequest(message="帮我回复客户，告诉他工程师明天上午上门", context=page),
            skill="reply_suggestion",
        )
        english = skills_runtime.assistant.turn(
            s, principal, SkillRequest(message="in English"), conversation_id=first.conversation_id
        )
        again = skills_runtime.assistant.turn(
            s, principal, SkillRequest(message="换个开头"), conversation_id=first.conversation_id
        )
        s.commit()
    assert english.skill == again.skill == "reply_suggestion"
    assert english.data["language"] == "en" and "Dear" in english.data["draft"]
    assert english.data["stated"] == ["工程师明天上午上门"]  # the plan carries over to the refinement
    assert (
        again.data["language"] == "en" and again.data["draft"].splitlines()[0] != english.data["draft"].splitlines()[0]
    )


def test_a_configured_model_sees_the_instruction_and_the_previous_draft(
    skills_runtime: Runtime, fake_openai: Any
) -> None:
    ticket = _ticket_where_customer_did_the_checks(skills_runtime)
    runtime = with_fake_model(skills_runtime, fake_openai)
    fake_openai.reply("卢工您好，工程师明天上午上门，届时请安排人员配合。")
    with runtime.sessions() as s:
        principal = load_principal(s, "service_mgr")
        page = PageContext(object_type="ticket", object_id=ticket.id)
        first = runtime.assistant.turn(
            s,
            principal,
            SkillRequest(message="告诉客户工程师明天上午上门，语气亲切些", context=page),
            skill="reply_suggestion",
        )
        fake_openai.reply("卢工您好：工程师将于明天上午上门，请安排人员配合。")
        second = runtime.assistant.turn(
            s, principal, SkillRequest(message="更正式一点"), conversation_id=first.conversation_id
        )
        s.commit()
    sent = fake_openai.all_request_text()
    assert "告诉客户工程师明天上午上门，语气亲切些" in sent and "更正式一点" in sent
    assert "工程师明天上午上门，届时请安排人员配合" in sent  # the previous draft reached the model
    assert "工程师明天上午上门" in first.answer and second.skill == "reply_suggestion"


def test_the_customers_last_question_is_answered_unless_the_agent_did() -> None:
    from skills.reply_suggestion import answer_lines

    asked = answer_lines("备件什么时候能到？这边生产计划很紧。", [])
    assert [a["name"] for a in asked] == ["asks_time"] and "确认后" in asked[0]["zh"]
    assert answer_lines("好的，工程师明天几点到？", ["工程师明天上午9点到现场"]) == []
    assert [a["name"] for a in answer_lines("已经恢复正常了，谢谢你们响应这么快！", [])] == ["resolved_thanks"]


def _ask_with_customer_message(runtime: Runtime, body: str, message: str) -> Any:
    """The agent's request on an open ticket whose customer last wrote ``body``."""
    ticket = _open_ticket(runtime)
    with runtime.sessions() as s:
        s.add(
            TicketMessage(
                ticket_id=ticket.id,
                author_kind="customer",
                author_name="客户",
                body=body,
                sent_at=dt.datetime(2030, 1, 1, 9, 0),
            )
        )
        s.flush()
        result = ask(runtime, "service_agent_1", "reply_suggestion", message, f"ticket:{ticket.id}", session=s)
        s.rollback()
    return result


def _plan_lines(draft: str) -> list[str]:
    return [ln for ln in draft.splitlines() if ln.strip()]


def test_words_about_the_tone_are_not_told_to_the_customer(skills_runtime: Runtime) -> None:
    result = _ask_with_customer_message(
        skills_runtime, "设备还是报警，麻烦看一下", "回客户一下，跟他说师傅明天下午过去，口气礼貌一点"
    )
    draft = result.data["draft"]
    assert "明天下午" in draft
    assert not any(w in draft for w in ("口气", "礼貌一点"))


def test_a_word_limit_in_english_gets_an_english_reply_within_it_with_the_ask(skills_runtime: Runtime) -> None:
    result = _ask_with_customer_message(
        skills_runtime,
        "设备还是报警，麻烦看一下，什么时候能处理好？",
        "draft a reply, 45 words max, asking the customer to upload a photo of the display",
    )
    draft = result.data["draft"]
    from skills.instructions import word_count

    assert result.data["language"] == "en" and word_count(draft) <= 45
    assert "photo of the display" in draft and "您" not in draft


def test_a_plan_in_the_other_language_is_said_in_the_replys_language(skills_runtime: Runtime) -> None:
    from copilot.core.locale import has_cjk

    en = _ask_with_customer_message(skills_runtime, "机器又停了", "reply in English, 跟客户说备件后天到")
    assert en.data["language"] == "en"
    assert "spare part" in en.data["draft"] and "the day after tomorrow" in en.data["draft"]
    assert not any(has_cjk(x) for x in en.data["said"])
    zh = _ask_with_customer_message(
        skills_runtime, "机器又停了", "inform the customer that our technician will come on site on Friday morning"
    )
    assert zh.data["language"] == "zh" and "周五上午" in zh.data["draft"]
    assert not any(ln.isascii() and " " in ln for ln in _plan_lines(zh.data["draft"]))  # no English sentence


def test_a_plan_the_phrase_table_cannot_say_is_flagged_to_the_agent(skills_runtime: Runtime) -> None:
    result = _ask_with_customer_message(
        skills_runtime, "机器又停了", "回复要用英文，告诉客户我们会重新核对他的合同条款"
    )
    assert result.data["language"] == "en"
    assert any("could not translate" in n for n in result.data["notes"])
