"""The router's model fallback goes through the turn's gateway: the same client, masking, retries and
circuit breaker as every answer, over real HTTP to the fake OpenAI-compatible server; the audit row says
when the model chose the skill."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from copilot.crm.principal import load_principal
from copilot.service.runtime import Runtime
from copilot.store.models import AuditEvent
from skills.base import SkillRequest
from tests.fakes.openai_server import fake_openai  # noqa: F401  (registers the fixture)
from tests.skills.skill_support import with_fake_model

VAGUE = "帮个忙，我手机号 13812345678"  # scores below every threshold: offline this is a question back


def _turn(runtime: Runtime, message: str) -> tuple[Any, AuditEvent]:
    with runtime.sessions() as s:
        result = runtime.assistant.turn(s, load_principal(s, "service_agent_1"), SkillRequest(message=message))
        s.commit()
        row = s.scalars(select(AuditEvent).where(AuditEvent.trace_id == result.trace_id)).one()
        return result, row


def test_a_skill_chosen_by_the_model_is_audited_and_masked(skills_runtime: Runtime, fake_openai: Any) -> None:  # noqa: F811
    runtime = with_fake_model(skills_runtime, fake_openai)
    assert runtime.assistant.router.gateway is runtime.llm  # one gateway per runtime, shared
    fake_openai.reply_tool_call("ticket_lookup")
    result, row = _turn(runtime, VAGUE)
    assert result.skill == "ticket_lookup" and result.routing is not None and result.routing["method"] == "llm"
    assert row.timings_ms.get("routed_by_llm") is True
    tool_request = fake_openai.chat_requests()[0].body
    assert tool_request["tool_choice"] == "auto"
    assert "13812345678" not in fake_openai.all_request_text()  # the gateway masked it before it left


def test_the_router_and_the_answers_share_one_breaker(skills_runtime: Runtime, fake_openai: Any) -> None:  # noqa: F811
    runtime = with_fake_model(skills_runtime, fake_openai)  # llm_max_retries=0, breaker opens after 3 failures
    fake_openai.error(500, times=3)
    for _ in range(3):
        _turn(runtime, VAGUE)  # each fallback fails once; the clarify answer finds the breaker open or not
    sent = len(fake_openai.chat_requests())
    result, _ = _turn(runtime, VAGUE)
    # The breaker the router's failures opened also guards the answer: nothing more is sent, and the
    # question back is the offline text, marked degraded.
    assert len(fake_openai.chat_requests()) == sent
    assert result.skill == "clarify" and result.degraded and result.provider == "offline"
