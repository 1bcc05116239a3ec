"""Slow failures against the real fake server over HTTP: a trickling model, a black hole, a cut or broken
stream. Each must end within its deadline, answer offline (or keep its partial text) marked degraded with
the reason, and be counted by the breaker; breaker changes and failures are JSON log lines."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Iterator

import pytest

from copilot.core.logging import EVENTS, JsonLines, bound
from copilot.llm.deadline import model_call_scope
from copilot.llm.gateway import Gateway
from copilot.llm.openai_provider import OpenAIProvider
from prompts import Registry, RenderedPrompt
from tests.fakes.openai_server import FakeOpenAIServer
from tests.prompts.samples import SAMPLES

REGISTRY = Registry.load()
LONG = "建议本周内电话回访客户并确认报价反馈。" * 4


def prompt() -> RenderedPrompt:
    return REGISTRY.get("record_qa", version=1, locale="zh").render(SAMPLES["record_qa"])


def gateway(server: FakeOpenAIServer, **overrides: object) -> Gateway:
    values: dict[str, object] = {"llm_deadline_s": 1.5, "llm_timeout_s": 5.0, "llm_max_retries": 2}
    values.update(overrides)
    return Gateway.from_settings(server.settings(**values))


def breaker_of(gw: Gateway) -> str:
    assert isinstance(gw.provider, OpenAIProvider)
    return gw.provider.breaker.state


def read_events(handler_buf: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in handler_buf.getvalue().splitlines()]


@pytest.fixture
def log_buf() -> Iterator[io.StringIO]:
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.setFormatter(JsonLines())
    EVENTS.addHandler(handler)
    try:
        yield buf
    finally:
        EVENTS.removeHandler(handler)


def test_trickled_json_body_ends_at_the_deadline_offline(fake_openai: FakeOpenAIServer) -> None:
    # Each read returns within the 5 s socket timeout; only the call's deadline can stop it.
    fake_openai.trickle(LONG, every_s=0.3, chunk_size=8)
    t0 = time.monotonic()
    result = gateway(fake_openai).run(prompt())
    took = time.monotonic() - t0

    assert 1.4 < took < 2.5
    assert (result.degraded, result.degraded_reason, result.provider) == (True, "deadline", "offline")
    assert result.text == prompt().offline_text  # the template's grounded offline answer


def test_trickled_stream_keeps_its_partial_text_marked_degraded(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.trickle(LONG, every_s=0.4, chunk_size=2)
    t0 = time.monotonic()
    stream = gateway(fake_openai).stream(prompt())
    text = "".join(stream)
    took = time.monotonic() - t0

    assert 1.4 < took < 2.5
    assert stream.result is not None
    assert (stream.result.degraded, stream.result.degraded_reason) == (True, "deadline")
    assert 0 < len(text) < len(LONG) and LONG.startswith(text) and stream.result.text == text
    assert (stream.result.degraded_detail or "").startswith("partial answer")


def test_black_hole_costs_one_deadline_not_three_timeouts_then_the_breaker_opens(
    fake_openai: FakeOpenAIServer, log_buf: io.StringIO
) -> None:
    fake_openai.black_hole(times=5)
    gw = gateway(fake_openai, llm_breaker_failures=3)
    costs = []
    with bound(request_id="req-bh"):
        for _ in range(3):
            t0 = time.monotonic()
            result = gw.run(prompt())
            costs.append(time.monotonic() - t0)
            assert (result.degraded, result.degraded_reason) == (True, "deadline")
    assert all(1.4 < c < 2.5 for c in costs), costs  # 3 attempts × 5 s would be 15 s each
    assert breaker_of(gw) == "open"

    t0 = time.monotonic()
    result = gw.run(prompt())
    assert result.degraded_reason == "breaker_open" and time.monotonic() - t0 < 0.3

    lines = read_events(log_buf)
    failures = [e for e in lines if e["event"] == "model_failure"]
    assert [e["reason"] for e in failures] == ["deadline"] * 3
    assert all(e["request_id"] == "req-bh" for e in failures)
    [opened] = [e for e in lines if e["event"] == "breaker_state"]
    assert (opened["before"], opened["after"], opened["level"]) == ("closed", "open", "warning")


def test_a_turn_scope_bounds_all_its_model_calls_together(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.black_hole(times=3)
    gw = gateway(fake_openai, llm_breaker_failures=10)
    released: list[float] = []
    t0 = time.monotonic()
    with model_call_scope(2.0, before_call=lambda: released.append(time.monotonic())):
        first = gw.run(prompt())  # its own 1.5 s
        second = gw.run(prompt())  # what is left of the turn's 2 s
        third = gw.run(prompt())  # nothing left: not sent at all
    took = time.monotonic() - t0

    assert [r.degraded_reason for r in (first, second, third)] == ["deadline"] * 3
    assert 1.9 < took < 3.0
    assert len(fake_openai.chat_requests()) == 2
    assert len(released) == 2  # the hook runs before every call that goes out, and only then


def test_offline_gateway_calls_no_hook(fake_openai: FakeOpenAIServer) -> None:
    from copilot.core.settings import Settings

    gw = Gateway.from_settings(Settings(llm_provider="offline"))
    calls: list[int] = []
    with model_call_scope(1.0, before_call=lambda: calls.append(1)):
        result = gw.run(prompt())
    assert not result.degraded and calls == []


def test_cut_stream_is_a_counted_failure_with_its_partial_text(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.cut_stream("建议本周内电话回访", times=3)
    gw = gateway(fake_openai, llm_breaker_failures=3)
    for _ in range(3):
        stream = gw.stream(prompt())
        text = "".join(stream)
        assert stream.result is not None
        assert text == "建议本周内电话回访" == stream.result.text
        assert (stream.result.degraded, stream.result.degraded_reason) == (True, "stream_incomplete")
    assert breaker_of(gw) == "open"


def test_broken_chunk_is_a_counted_failure(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.malformed_sse(good_text="部分答案")
    gw = gateway(fake_openai, llm_breaker_failures=1)
    stream = gw.stream(prompt())
    text = "".join(stream)
    assert stream.result is not None
    assert text == "部分答案" and stream.result.degraded_reason == "stream_error"
    assert breaker_of(gw) == "open"


def test_a_complete_stream_is_a_success(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.reply("完整回答。", chunk_size=2)
    gw = gateway(fake_openai, llm_breaker_failures=1)
    stream = gw.stream(prompt())
    assert "".join(stream) == "完整回答。"
    assert stream.result is not None and not stream.result.degraded
    assert breaker_of(gw) == "closed"
