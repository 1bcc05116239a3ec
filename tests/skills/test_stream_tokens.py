"""``stream_tokens``: which skills may show the model's text while it is written, and that compose honours it.

A skill that rewrites the model's text afterwards (compliance, promise guard) or asks for JSON must never
stream raw tokens: a client would see words the final answer took out. The declaration is data
(skills/defs/*.yaml); these tests pin it and check the skills behave as declared.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from copilot.core.errors import BadRequest
from copilot.crm.models import Ticket
from copilot.crm.principal import load_principal
from copilot.service.runtime import Runtime
from prompts.registry import Registry
from skills.base import DEFS_DIR, PageContext, SkillRequest, SkillResult, load_specs
from tests.skills.skill_support import with_fake_model

# Why each is what it is: see the comment above stream_tokens in its definition.
DECLARED = {
    "record_qa": True,
    "next_best_action": True,
    "troubleshoot": True,
    "ticket_lookup": True,
    "record_lookup": True,
    "marketing_copy": False,  # JSON output, then the compliance rewrite
    "reply_suggestion": False,  # the promise guard removes sentences after the model wrote them
}


class ListSink:
    def __init__(self) -> None:
        self.started: list[tuple[str, str]] = []
        self.deltas: list[str] = []

    def model_started(self, skill: str, trace_id: str) -> None:
        self.started.append((skill, trace_id))

    def delta(self, text: str) -> None:
        self.deltas.append(text)


def _turn(runtime: Runtime, username: str, skill: str, message: str, context: str, sink: ListSink) -> SkillResult:
    kind, _, rid = context.partition(":")
    request = SkillRequest(message=message, context=PageContext(object_type=kind, object_id=int(rid)))
    with runtime.sessions() as s:
        result = runtime.assistant.turn(s, load_principal(s, username), request, skill=skill, token_sink=sink)
        s.commit()
    return result


def _ticket(runtime: Runtime, error_code: str | None = None) -> Ticket:
    with runtime.sessions() as s:
        q = select(Ticket).where(Ticket.assignee_id.is_not(None), Ticket.device_id.is_not(None))
        if error_code:
            q = q.where(Ticket.error_code == error_code)
        ticket = s.scalars(q.order_by(Ticket.id)).first()
    assert ticket is not None
    return ticket


def test_every_skill_declares_whether_it_streams_tokens() -> None:
    assert {name: spec.stream_tokens for name, spec in load_specs().items()} == DECLARED


def test_a_streaming_skill_never_asks_for_json() -> None:
    registry = Registry.load()
    for spec in load_specs().values():
        if spec.stream_tokens:
            for version in registry.versions(spec.template):
                for locale in ("zh", "en"):
                    template = registry.get(spec.template, version, locale)
                    assert template.spec.output_schema is None, f"{spec.name}: {template.ref} declares JSON output"


def test_stream_tokens_must_be_a_real_boolean(tmp_path: Path) -> None:
    text = (DEFS_DIR / "record_qa.yaml").read_text(encoding="utf-8")
    (tmp_path / "record_qa.yaml").write_text(text.replace("stream_tokens: true", 'stream_tokens: "yes"'), "utf-8")
    with pytest.raises(BadRequest, match="stream_tokens"):
        load_specs(tmp_path)


def test_troubleshoot_hands_the_model_text_to_the_sink_as_written(skills_runtime: Runtime, fake_openai: Any) -> None:
    ticket = _ticket(skills_runtime, "E-204")
    text = "先检查喷嘴和陶瓷环，再重新标定随动。"
    fake_openai.reply(text, chunk_size=2)
    sink = ListSink()
    runtime = with_fake_model(skills_runtime, fake_openai)
    result = _turn(runtime, "service_agent_1", "troubleshoot", "设备报E-204怎么处理", f"ticket:{ticket.id}", sink)

    assert sink.started == [("troubleshoot", result.trace_id)]
    assert len(sink.deltas) > 3 and "".join(sink.deltas) == result.answer == text
    assert result.provider == "openai" and result.citations


def test_reply_suggestion_never_hands_raw_tokens_to_the_sink(skills_runtime: Runtime, fake_openai: Any) -> None:
    ticket = _ticket(skills_runtime)
    fake_openai.reply("王工您好，工程师明天上午10点到场，免费更换喷嘴。请先确认设备已断电。")
    sink = ListSink()
    runtime = with_fake_model(skills_runtime, fake_openai)
    result = _turn(runtime, "service_agent_1", "reply_suggestion", "帮我回复客户", f"ticket:{ticket.id}", sink)

    assert sink.started == [] and sink.deltas == []
    assert "免费" not in result.answer and "unsupported_promises_removed" in result.warnings
    assert not fake_openai.chat_requests()[0].body.get("stream")


def test_offline_provider_has_no_tokens_to_stream(skills_runtime: Runtime) -> None:
    ticket = _ticket(skills_runtime, "E-204")
    sink = ListSink()
    question = "设备报E-204怎么处理"
    result = _turn(skills_runtime, "service_agent_1", "troubleshoot", question, f"ticket:{ticket.id}", sink)
    assert sink.started == [] and sink.deltas == [] and result.provider == "offline" and result.answer
