"""The openai provider through real HTTP against the fake server, as the gateway uses it."""

from __future__ import annotations

import time

import pytest
from pydantic import BaseModel

from copilot.llm.gateway import Gateway
from copilot.llm.openai_provider import OpenAIProvider
from prompts import Registry, RenderedPrompt
from tests.fakes.openai_server import FakeOpenAIServer
from tests.prompts.samples import SAMPLES

REGISTRY = Registry.load()


def prompt(template_id: str = "record_qa", locale: str = "zh") -> RenderedPrompt:
    return REGISTRY.get(template_id, version=1, locale=locale).render(SAMPLES[template_id])


def gateway(server: FakeOpenAIServer, **settings: object) -> Gateway:
    return Gateway.from_settings(server.settings(**settings))


ANSWER_SCHEMA = {
    "title": "answer",
    "type": "object",
    "properties": {"answer": {"type": "string"}, "citations": {"type": "array", "items": {"type": "string"}}},
    "required": ["answer", "citations"],
    "additionalProperties": False,
}


def test_plain_completion_carries_template_and_provider(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.reply("标准交期 45 天，含 3 天培训。[kb:lc-3015-product-sheet#2]")
    p = prompt()
    result = gateway(fake_openai).run(p)

    assert result.text == "标准交期 45 天，含 3 天培训。[kb:lc-3015-product-sheet#2]"
    assert (result.provider, result.model, result.degraded) == ("openai", "fake-model", False)
    assert (result.template, result.template_hash, result.locale) == ("record_qa@1", p.hash, "zh")
    assert result.usage["total_tokens"] > 0
    [req] = fake_openai.chat_requests()
    assert [m["role"] for m in req.body["messages"]] == ["system", "user"]
    assert req.body["model"] == "fake-model"
    assert req.body["temperature"] == 0.2 and req.body["max_tokens"] == 800  # the template's options
    assert req.headers.get("authorization") == "Bearer test-key"


def test_streaming_yields_deltas_in_order(fake_openai: FakeOpenAIServer) -> None:
    text = "建议本周内电话回访客户，确认报价反馈。"
    fake_openai.reply(text, chunk_size=3)
    stream = gateway(fake_openai).stream(prompt("next_best_action"))
    deltas = list(stream)

    assert len(deltas) > 3 and "".join(deltas) == text
    assert stream.result is not None
    assert (stream.result.provider, stream.result.degraded, stream.result.template) == (
        "openai",
        False,
        "next_best_action@1",
    )
    assert fake_openai.chat_requests()[0].body["stream"] is True


def test_json_schema_mode_parses_and_validates(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.reply_json({"answer": "45 天", "citations": ["kb:lc-3015-product-sheet#2"]})
    result = gateway(fake_openai).run(prompt(), json_schema=ANSWER_SCHEMA)

    assert not result.degraded
    assert result.parsed == {"answer": "45 天", "citations": ["kb:lc-3015-product-sheet#2"]}
    fmt = fake_openai.chat_requests()[0].body["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["schema"] == ANSWER_SCHEMA


class Answer(BaseModel):
    answer: str
    confidence: float


def test_pydantic_model_as_schema(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.reply_json({"answer": "ok", "confidence": 0.9})
    result = gateway(fake_openai).run(prompt(), json_schema=Answer)
    assert result.parsed == Answer(answer="ok", confidence=0.9)


def test_endpoint_without_json_schema_falls_back_to_json_object_and_remembers(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.unsupported_formats = {"json_schema"}
    fake_openai.reply_json({"answer": "a", "citations": []}).reply_json({"answer": "b", "citations": []})
    gw = gateway(fake_openai)

    first = gw.run(prompt(), json_schema=ANSWER_SCHEMA)
    second = gw.run(prompt(), json_schema=ANSWER_SCHEMA)

    assert (first.parsed["answer"], second.parsed["answer"]) == ("a", "b")
    formats = [r.body.get("response_format", {}).get("type") for r in fake_openai.chat_requests()]
    # One rejected try, then json_object for this call and the next: no second rejected round trip.
    assert formats == ["json_schema", "json_object", "json_object"]
    assert "JSON" in fake_openai.chat_requests()[1].body["messages"][-1]["content"]


def test_endpoint_without_any_response_format_gets_plain_prompt(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.unsupported_formats = {"json_schema", "json_object"}
    fake_openai.reply('```json\n{"answer": "c", "citations": ["x"]}\n```')
    result = gateway(fake_openai).run(prompt(), json_schema=ANSWER_SCHEMA)
    assert result.parsed == {"answer": "c", "citations": ["x"]}
    assert "response_format" not in fake_openai.chat_requests()[-1].body


@pytest.mark.parametrize(
    "reply",
    ["这不是 JSON {answer: 1", '{"answer": 42, "citations": "none"}', '{"answer": "x", "citations": [], "extra": 1}'],
    ids=["not-json", "wrong-types", "unexpected-key"],
)
def test_invalid_json_degrades_to_offline(fake_openai: FakeOpenAIServer, reply: str) -> None:
    fake_openai.reply(reply)
    p = prompt()
    result = gateway(fake_openai).run(p, json_schema=ANSWER_SCHEMA)

    assert result.degraded and result.degraded_reason == "invalid_json"
    assert result.provider == "offline" and result.text == p.offline_text
    assert result.degraded_detail and ("JSON" in result.degraded_detail or "schema" in result.degraded_detail)


def test_429_with_retry_after_is_honoured_then_succeeds(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.error(429, retry_after=1).reply("第二次成功")
    result = gateway(fake_openai, llm_max_retries=2).run(prompt())

    assert result.text == "第二次成功" and not result.degraded
    first, second = fake_openai.chat_requests()
    assert second.at - first.at >= 0.95  # waited as the server asked


def test_retry_after_longer_than_we_wait_degrades_at_once(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.error(429, retry_after=120)
    start = time.monotonic()
    result = gateway(fake_openai, llm_max_retries=3).run(prompt())

    assert result.degraded and result.degraded_reason == "retries_exhausted"
    assert len(fake_openai.chat_requests()) == 1 and time.monotonic() - start < 5


def test_transient_500s_are_retried(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.error(500, times=2).reply("恢复了")
    result = gateway(fake_openai, llm_max_retries=2).run(prompt())
    assert result.text == "恢复了" and not result.degraded
    assert len(fake_openai.chat_requests()) == 3


def test_breaker_opens_after_consecutive_failures_then_probes(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.error(500, times=3)
    gw = gateway(fake_openai, llm_max_retries=0, llm_breaker_failures=3, llm_breaker_reset_s=0.5)
    p = prompt()

    reasons = [gw.run(p).degraded_reason for _ in range(3)]
    assert reasons == ["retries_exhausted"] * 3
    assert len(fake_openai.chat_requests()) == 3

    opened = gw.run(p)
    assert opened.degraded and opened.degraded_reason == "breaker_open"
    assert opened.provider == "offline" and opened.text == p.offline_text
    assert len(fake_openai.chat_requests()) == 3, "an open breaker must not call the server"

    time.sleep(0.6)
    fake_openai.reply("探测成功")
    probe = gw.run(p)
    assert probe.text == "探测成功" and not probe.degraded
    assert len(fake_openai.chat_requests()) == 4


def test_failed_probe_reopens_the_breaker(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.error(503, times=2)
    gw = gateway(fake_openai, llm_max_retries=0, llm_breaker_failures=1, llm_breaker_reset_s=0.3)
    assert gw.run(prompt()).degraded_reason == "retries_exhausted"
    time.sleep(0.35)
    assert gw.run(prompt()).degraded_reason == "retries_exhausted"  # the probe went out and failed
    assert gw.run(prompt()).degraded_reason == "breaker_open"
    assert len(fake_openai.chat_requests()) == 2


def test_timeout_degrades_without_waiting_for_the_server(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.sleep(3)
    start = time.monotonic()
    result = gateway(fake_openai, llm_timeout_s=0.5, llm_max_retries=0).run(prompt())

    assert result.degraded and result.degraded_reason == "timeout"
    assert time.monotonic() - start < 2.5


def test_garbage_http_body_degrades(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.garbage_body()
    result = gateway(fake_openai).run(prompt())
    assert result.degraded and result.degraded_reason == "http_error" and result.provider == "offline"


def test_unreachable_endpoint_degrades_with_connection_reason() -> None:
    server = FakeOpenAIServer().start()
    settings = server.settings(llm_max_retries=1)
    server.stop()  # nothing listens on that port any more
    result = Gateway.from_settings(settings).run(prompt())
    assert result.degraded and result.degraded_reason == "connection"


def test_malformed_sse_mid_stream_keeps_what_was_sent_and_says_so(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.malformed_sse(good_text="已经发送的部分")
    stream = gateway(fake_openai).stream(prompt())
    text = "".join(stream)

    assert text == "已经发送的部分"
    assert stream.result is not None
    assert stream.result.degraded and stream.result.degraded_reason == "stream_error"


def test_stream_failing_before_any_text_falls_back_to_offline(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.malformed_sse(good_text="")
    p = prompt()
    stream = gateway(fake_openai).stream(p)
    assert "".join(stream) == p.offline_text
    assert stream.result is not None and stream.result.provider == "offline" and stream.result.degraded


def test_models_endpoint(fake_openai: FakeOpenAIServer) -> None:
    provider = OpenAIProvider(model="fake-model", base_url=fake_openai.base_url, api_key="k")
    assert provider.list_models() == ["fake-model"]


def test_fake_server_can_answer_with_a_tool_call(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.reply_tool_call("ticket_lookup", {"status": "open"})
    provider = OpenAIProvider(model="fake-model", base_url=fake_openai.base_url, api_key="k")
    resp = provider.client.chat.completions.create(model="fake-model", messages=[{"role": "user", "content": "x"}])
    call = resp.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert (call.function.name, call.function.arguments) == ("ticket_lookup", '{"status": "open"}')  # type: ignore[union-attr]
