"""LiveTurn's three ways a turn can go, with a scripted stand-in for the runtime (no HTTP, no model).

The HTTP tests cover the real paths; what they cannot reach without patching the product is a turn
that fails *after* its model call began. That must end the stream with an ``error`` event and
``done``, not a 500 and not a hung connection.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, cast

import pytest

from copilot.api.live_turn import Delta, Finished, LiveTurn, rest_of
from copilot.api.routes.assist import _events
from copilot.core.errors import NotFound
from copilot.crm.principal import Principal
from copilot.service.runtime import Runtime
from skills.base import SkillRequest, SkillResult, TokenSink

Script = Callable[[TokenSink], SkillResult]


class _Session:
    def commit(self) -> None:
        pass


class _Assistant:
    def __init__(self, script: Script) -> None:
        self.script = script

    def turn(
        self, session: Any, principal: Any, request: Any, skill: Any = None, *, token_sink: TokenSink, **_: Any
    ) -> Any:  # **_: the conversation arguments LiveTurn passes on (conversation_id, replayed)
        return self.script(token_sink)


class _Runtime:
    def __init__(self, script: Script) -> None:
        self.assistant = _Assistant(script)

    @contextmanager
    def sessions(self) -> Iterator[_Session]:
        yield _Session()


def _turn(script: Script) -> LiveTurn:
    runtime = cast(Runtime, _Runtime(script))
    return LiveTurn(runtime, cast(Principal, object()), SkillRequest(message="hi"), None)


def test_a_failure_before_the_model_call_is_raised_by_open() -> None:
    def script(sink: TokenSink) -> SkillResult:
        raise NotFound("no such record")

    with pytest.raises(NotFound):
        _turn(script).open()


def test_a_turn_without_a_live_model_call_is_cut_from_its_result() -> None:
    result = SkillResult(skill="record_qa", answer="x" * 60, trace_id="t1")
    turn = _turn(lambda sink: result)
    started = turn.open()
    assert (started.skill, started.trace_id) == ("record_qa", "t1")
    events = list(_events(turn, started.skill, started.trace_id))
    names = [e["event"] for e in events]
    assert names == ["meta", "delta", "delta", "delta", "result", "done"]


def test_a_failure_after_the_stream_began_is_an_error_event_then_done() -> None:
    def script(sink: TokenSink) -> SkillResult:
        sink.model_started("record_qa", "t2")
        sink.delta("半句")
        raise RuntimeError("database went away")

    turn = _turn(script)
    started = turn.open()
    events = list(_events(turn, started.skill, started.trace_id))
    assert [e["event"] for e in events] == ["meta", "delta", "error", "done"]
    assert '"internal_error"' in events[2]["data"] and "database" not in events[2]["data"]  # no internals leak


def test_events_are_the_deltas_then_the_result() -> None:
    result = SkillResult(skill="record_qa", answer="ab", trace_id="t3")

    def script(sink: TokenSink) -> SkillResult:
        sink.model_started("record_qa", "t3")
        sink.delta("a")
        sink.delta("")  # nothing to show: not an event
        sink.delta("b")
        return result

    turn = _turn(script)
    turn.open()
    assert list(turn.events()) == [Delta("a"), Delta("b"), Finished(result)]


@pytest.mark.parametrize(
    ("final", "sent", "rest"),
    [("abc", "ab", "c"), ("abc", "", "abc"), ("abc", "abc", ""), ("xyz", "ab", ""), ("ab", "abc", "")],
)
def test_rest_of_sends_only_what_extends_the_streamed_text(final: str, sent: str, rest: str) -> None:
    assert rest_of(final, sent) == rest
