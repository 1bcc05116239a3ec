"""troubleshoot on the demo org: causes, numbered steps, parts and escalation, each cited."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from copilot.core.errors import Forbidden
from copilot.crm.models import Device, Ticket
from copilot.service.runtime import Runtime
from skills.troubleshoot import find_error_code
from tests.skills.skill_support import ask, with_fake_model


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("设备报E-204怎么处理", "E-204"),
        ("how do I fix error A-17", "A-17"),
        ("BA-800 报 2031 试剂针堵塞", "2031"),
        ("HA-5 一直报 H-12", "H-12"),
        ("冷柜显示F3", "F3"),
        ("DeviceCloud SYNC-02 延迟", "SYNC-02"),
        ("LC-3015 切割面有毛刺", None),
        ("2026年的保养计划", None),
    ],
)
def test_error_codes_are_found_and_product_models_are_not(text: str, code: str | None) -> None:
    assert find_error_code(text) == code


def _ticket(runtime: Runtime, code: str) -> Ticket:
    with runtime.sessions() as s:
        ticket = s.scalars(
            select(Ticket).where(Ticket.error_code == code, Ticket.device_id.is_not(None)).order_by(Ticket.id)
        ).first()
    assert ticket is not None
    return ticket


def test_e204_ticket_gets_the_articles_steps_parts_and_escalation(skills_runtime: Runtime) -> None:
    ticket = _ticket(skills_runtime, "E-204")
    result = ask(skills_runtime, "service_agent_1", "troubleshoot", "设备报E-204怎么处理", f"ticket:{ticket.id}")
    answer = result.answer
    assert "1. 复位报警" in answer and "8. 试切一张料" in answer  # numbered, in the article's order
    assert "P-LC-NOZ-15" in answer and "二线" in answer  # parts and when to escalate
    assert result.data["article"] == "lc-3015-e204-follow-head-alarm"
    kb = [c.id for c in result.citations if c.type == "kb"]
    assert kb and all("lc-3015-e204-follow-head-alarm" in c for c in kb)
    ids = {c.id for c in result.citations}
    assert {f"crm:ticket:{ticket.id}", f"crm:device:{ticket.device_id}"} <= ids
    # every step line carries a KB chunk id that was cited
    for line in answer.splitlines():
        if line[:2] in {f"{i}." for i in range(1, 10)}:
            assert any(f"[{c}]" in line for c in kb), line


def test_english_question_on_a_device_without_a_ticket(skills_runtime: Runtime) -> None:
    with skills_runtime.sessions() as s:
        device = s.scalars(select(Device).where(Device.serial.like("SC400%")).order_by(Device.id)).first()
    assert device is not None
    result = ask(
        skills_runtime,
        "service_agent_1",
        "troubleshoot",
        "the fridge shows F7, what should I check?",
        input={"device_id": device.id},
    )
    assert result.data["error_code"] == "F7" and result.data["product"] == "SC-400"
    assert "Steps" in result.answer and device.serial in result.answer
    assert result.data["article"] == "sc-400-f7-door-open-alarm"


def test_unknown_code_says_escalate_and_cites_no_article(skills_runtime: Runtime) -> None:
    result = ask(
        skills_runtime, "service_agent_1", "troubleshoot", "设备报 Z-999 怎么办", input={"error_code": "Z-999"}
    )
    assert "升级" in result.answer and not [c for c in result.citations if c.type == "kb"]
    assert "no_kb_article" in result.warnings


def test_sales_reps_are_refused(skills_runtime: Runtime) -> None:
    with pytest.raises(Forbidden):
        ask(skills_runtime, "rep_east_1", "troubleshoot", "设备报E-204怎么处理")


def test_fake_model_answer_keeps_the_same_citations(skills_runtime: Runtime, fake_openai: Any) -> None:
    ticket = _ticket(skills_runtime, "E-204")
    offline = ask(skills_runtime, "service_agent_1", "troubleshoot", "设备报E-204怎么处理", f"ticket:{ticket.id}")
    fake_openai.reply("先检查喷嘴和陶瓷环，再重新标定随动。")
    result = ask(
        with_fake_model(skills_runtime, fake_openai),
        "service_agent_1",
        "troubleshoot",
        "设备报E-204怎么处理",
        f"ticket:{ticket.id}",
    )
    assert result.provider == "openai" and result.answer == "先检查喷嘴和陶瓷环，再重新标定随动。"
    assert [c.id for c in result.citations] == [c.id for c in offline.citations]
    assert "排查步骤" in fake_openai.all_request_text()


def test_a_follow_up_keeps_the_problem_and_the_model_sees_the_words(skills_runtime: Runtime, fake_openai: Any) -> None:
    from copilot.crm.principal import load_principal
    from skills.base import SkillRequest

    runtime = with_fake_model(skills_runtime, fake_openai)
    fake_openai.reply("1. 复位报警，抬起 Z 轴检查切割头 [kb:x]")
    with runtime.sessions() as s:
        principal = load_principal(s, "service_agent_1")
        first = runtime.assistant.turn(
            s, principal, SkillRequest(message="LC-3015 报 E-204，客户说切割头撞了一下"), skill="troubleshoot"
        )
        fake_openai.reply("Steps only: reset the alarm and lift the Z axis.")
        second = runtime.assistant.turn(
            s, principal, SkillRequest(message="shorter"), conversation_id=first.conversation_id
        )
        s.commit()
    assert second.skill == "troubleshoot" and second.data["error_code"] == "E-204"  # "shorter" is no symptom
    sent = fake_openai.all_request_text()
    assert "客户说切割头撞了一下" in sent and "shorter" in sent
    assert "复位报警，抬起 Z 轴检查切割头" in sent  # the previous answer reached the model for the refinement
