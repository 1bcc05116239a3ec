"""Deadlines for model calls: one clock per call and per turn, covering connect, every chunk and retries.

Why a worker thread: the HTTP client's timeout bounds each socket read, not the call, so a model that
trickles a byte every few seconds (or a proxy that holds the connection open) would keep a turn for as long
as it likes. The caller waits on the worker only until the deadline and then answers without it; the worker
is told it was abandoned, stops at its next read (its own read timeout is never longer than the time that
was left) and records nothing.

A turn sets a scope (``model_call_scope``): its own deadline, which every model call inside it shares, and a
``before_call`` hook the service uses to hand its database connection back before the model is waited on.
"""

from __future__ import annotations

import contextlib
import contextvars
import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class _Scope:
    deadline: float | None
    before_call: Callable[[], None] | None


_SCOPE: contextvars.ContextVar[_Scope | None] = contextvars.ContextVar("copilot_model_scope", default=None)


class DeadlineExceeded(Exception):
    """The call's (or the turn's) time ran out before the model finished."""


@contextmanager
def model_call_scope(turn_deadline_s: float | None, *, before_call: Callable[[], None] | None = None) -> Iterator[None]:
    """Every model call made inside shares one deadline ``turn_deadline_s`` from now (None: no turn bound);
    ``before_call`` runs before each call that goes over the network."""
    deadline = time.monotonic() + turn_deadline_s if turn_deadline_s else None
    token = _SCOPE.set(_Scope(deadline, before_call))
    try:
        yield
    finally:
        _SCOPE.reset(token)


def call_deadline(call_s: float | None) -> float | None:
    """The monotonic time one model call must end by: its own budget, capped by the turn's."""
    scope = _SCOPE.get()
    candidates = [d for d in (time.monotonic() + call_s if call_s else None, scope.deadline if scope else None) if d]
    return min(candidates) if candidates else None


def before_model_call() -> None:
    scope = _SCOPE.get()
    if scope is not None and scope.before_call is not None:
        scope.before_call()


def remaining(deadline: float | None) -> float | None:
    return None if deadline is None else deadline - time.monotonic()


class Abandoned:
    """Shared between a caller and its worker: set once the caller stopped waiting."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    def __bool__(self) -> bool:
        return self._event.is_set()


def run_before(deadline: float | None, fn: Callable[[Abandoned], T]) -> T:
    """``fn(abandoned)`` in a worker; its result or exception, or DeadlineExceeded once ``deadline`` passes."""
    abandoned = Abandoned()
    if deadline is None:
        return fn(abandoned)
    box: dict[str, object] = {}
    done = threading.Event()
    ctx = contextvars.copy_context()  # the request's log fields travel with the work

    def work() -> None:
        try:
            box["value"] = ctx.run(fn, abandoned)
        except BaseException as exc:  # handed to the caller as is
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=work, name="model-call", daemon=True).start()
    left = remaining(deadline)
    if not done.wait(max(0.0, left if left is not None else 0.0)):
        abandoned.set()
        raise DeadlineExceeded
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]


_END = object()


def iterate_before(
    deadline: float | None, items: Iterator[T], abandoned: Abandoned, on_abandon: Callable[[], None]
) -> Iterator[T]:
    """``items`` pulled by a worker and handed over until the deadline; then ``abandoned`` is set,
    ``on_abandon`` (close the stream) is called so the worker stops at its next read, and
    DeadlineExceeded is raised. A consumer that stops early abandons the worker the same way."""
    if deadline is None:
        yield from items
        return
    q: queue.Queue[object] = queue.Queue()
    ctx = contextvars.copy_context()

    def pump() -> None:
        try:
            for item in items:
                if abandoned:
                    break
                q.put(item)
            q.put(_END)
        except BaseException as exc:
            q.put(_Failure(exc))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    threading.Thread(target=lambda: ctx.run(pump), name="model-stream", daemon=True).start()
    try:
        yield from _handed_over(deadline, q, abandoned, on_abandon)
    finally:
        abandoned.set()  # no-op after a clean end: the worker is done by then


def _handed_over(
    deadline: float, q: queue.Queue[object], abandoned: Abandoned, on_abandon: Callable[[], None]
) -> Iterator[T]:
    while True:
        left = deadline - time.monotonic()
        try:
            item = q.get(timeout=max(0.0, left))
        except queue.Empty:
            abandoned.set()
            # Closing from another thread is best effort: the worker's read timeout ends it anyway.
            with contextlib.suppress(Exception):
                on_abandon()
            raise DeadlineExceeded from None
        if item is _END:
            return
        if isinstance(item, _Failure):
            raise item.error
        yield item  # type: ignore[misc]


@dataclass(frozen=True)
class _Failure:
    error: BaseException
