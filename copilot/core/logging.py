"""Structured service logs: one JSON line per event, with the request's bound fields (request id, trace id).

Events are things an operator acts on: a breaker opening or closing, a model failure and its reason, a
wait for a database connection, a 5xx. ``log_event("breaker_state", before="closed", after="open")``
writes ``{"ts": ..., "level": "warning", "event": "breaker_state", "request_id": ..., "before": ...}`` to
the ``copilot.events`` logger (stderr by default; a deployment may attach its own handler).
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

EVENTS = logging.getLogger("copilot.events")
_BOUND: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("copilot_log_fields", default=None)
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "event": getattr(record, "event", record.getMessage()),
            **getattr(record, "fields", {}),
        }
        return json.dumps(body, ensure_ascii=False, default=str)


def _install() -> None:
    if not EVENTS.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(JsonLines())
        EVENTS.addHandler(handler)
        EVENTS.setLevel(logging.INFO)
        EVENTS.propagate = False  # one line per event, not a second plain copy through the root logger


_install()


@contextmanager
def bound(**fields: Any) -> Iterator[None]:
    """Fields added to every event logged inside (this thread and the work it hands to others)."""
    token = _BOUND.set({**(_BOUND.get() or {}), **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _BOUND.reset(token)


def bound_fields() -> dict[str, Any]:
    return dict(_BOUND.get() or {})


def log_event(event: str, *, level: str = "info", **fields: Any) -> None:
    fields = {**(_BOUND.get() or {}), **fields}
    EVENTS.log(_LEVELS.get(level, logging.INFO), event, extra={"event": event, "fields": fields})
