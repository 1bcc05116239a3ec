"""Run one copilot turn in a worker thread and hand its events to a streaming response as they happen.

Why a thread: a streamed answer must start while the model is still writing, yet a request that the
turn refuses (too long, unknown skill, a record the caller may not see, bad input) must still get its
4xx JSON answer, not a 200 stream with an error inside. So the route starts the turn here and waits
for the first of: the model call starting (every refusal is behind us: stream from now on), the turn
finishing without a live model call (offline provider, a skill that rewrites the model's text: show
the final result), or a failure (raised in the route, where the usual error handlers answer it).

The turn owns its own database session: the response outlives the request's session, and the audit
row is written when the turn ends, after the last token.
"""

from __future__ import annotations

import contextvars
import logging
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from copilot.core.errors import CopilotError
from copilot.crm.principal import Principal
from copilot.service.conversation import Replayed
from copilot.service.runtime import Runtime
from skills.base import SkillRequest, SkillResult

log = logging.getLogger(__name__)

PIECE = 24  # characters per delta when a finished text is cut into pieces


@dataclass(frozen=True)
class Started:
    skill: str
    trace_id: str


@dataclass(frozen=True)
class Delta:
    text: str


@dataclass(frozen=True)
class Finished:
    result: SkillResult


@dataclass(frozen=True)
class Failed:
    error: Exception


Event = Started | Delta | Finished | Failed


class LiveTurn:
    """One turn, run off the request thread. Also the turn's TokenSink (``model_started`` / ``delta``)."""

    def __init__(
        self,
        runtime: Runtime,
        principal: Principal,
        request: SkillRequest,
        skill: str | None,
        *,
        conversation_id: str | None = None,
        replayed: Sequence[Replayed] | None = None,
    ) -> None:
        self._runtime = runtime
        self._conversation_id = conversation_id
        self._replayed = replayed
        self._principal = principal
        self._request = request
        self._skill = skill
        self._events: queue.SimpleQueue[Event] = queue.SimpleQueue()
        self._finished_early: Finished | None = None

    # --- TokenSink: called from the worker thread --------------------------------------------------

    def model_started(self, skill: str, trace_id: str) -> None:
        self._events.put(Started(skill, trace_id))

    def delta(self, text: str) -> None:
        if text:
            self._events.put(Delta(text))

    # --- the route's side ---------------------------------------------------------------------------

    def open(self) -> Started:
        """Start the turn; return once it talks to the model or has finished (skill and trace id for the
        stream's first event). A failure before that is raised here, exactly as the plain route raises it."""
        # The request's log fields (its request id) go with the turn into its thread.
        ctx = contextvars.copy_context()
        threading.Thread(target=lambda: ctx.run(self._work), name="live-turn", daemon=True).start()
        first = self._events.get()
        if isinstance(first, Failed):
            raise first.error
        if isinstance(first, Finished):
            self._finished_early = first
            return Started(first.result.skill, first.result.trace_id)
        if isinstance(first, Started):
            return first
        raise AssertionError(f"a delta before the model started: {first!r}")  # pragma: no cover

    def events(self) -> Iterator[Delta | Finished | Failed]:
        """The model's pieces as they arrive, then exactly one Finished or Failed. The worker always ends
        with one of those two, so this never waits forever (the model call has the gateway's timeout)."""
        if self._finished_early is not None:
            yield self._finished_early
            return
        while True:
            event = self._events.get()
            if isinstance(event, Started):  # pragma: no cover - compose signals once per turn
                continue
            yield event
            if not isinstance(event, Delta):
                return

    def _work(self) -> None:
        try:
            with self._runtime.sessions() as session:
                result = self._runtime.assistant.turn(
                    session,
                    self._principal,
                    self._request,
                    skill=self._skill,
                    token_sink=self,
                    conversation_id=self._conversation_id,
                    replayed=self._replayed,
                )
                session.commit()
        except Exception as exc:  # handed to the route (4xx before streaming) or to the stream (error event)
            self._events.put(Failed(exc))
        else:
            self._events.put(Finished(result))


def text_events(turn: LiveTurn, final_text: Callable[[SkillResult], str]) -> Iterator[Delta | Finished | Failed]:
    """The turn's events with every piece of text a client must read as a Delta: the model's pieces live,
    then whatever ``final_text(result)`` adds after them (a note, a citations list, or the whole text when
    nothing streamed), then the Finished or Failed event. One loop for every streaming wire format."""
    sent: list[str] = []
    for event in turn.events():
        if isinstance(event, Finished):
            for piece in pieces(rest_of(final_text(event.result), "".join(sent))):
                yield Delta(piece)
        elif isinstance(event, Delta):
            sent.append(event.text)
        yield event


def pieces(text: str, size: int = PIECE) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def rest_of(final: str, sent: str) -> str:
    """What a client that has read ``sent`` still needs to read ``final``: the tail when ``final`` extends
    what was streamed (a note a skill appended, the citations list), else nothing. Streamed text cannot be
    taken back; where it and the final text differ, the final result carries the truth."""
    return final[len(sent) :] if final.startswith(sent) else ""


def error_body(exc: Exception) -> dict[str, str]:
    """The ``{"code", "message"}`` of our JSON errors, for a failure after the stream started."""
    if isinstance(exc, CopilotError):
        return {"code": exc.code, "message": exc.message}
    log.error("streamed turn failed", exc_info=exc)
    return {"code": "internal_error", "message": "the turn failed after the answer had started; see the server log"}
