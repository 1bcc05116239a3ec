"""A small Server-Sent Events reader for the streaming tests: each event with the time it arrived."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True)
class Event:
    name: str
    data: str
    at: float  # seconds since the request was sent

    def json(self) -> Any:
        return json.loads(self.data)


def read_events(response: httpx.Response, started: float) -> Iterator[Event]:
    """Parse ``event:``/``data:`` blocks as they arrive (comments such as pings are skipped)."""
    name = "message"
    data: list[str] = []
    for line in response.iter_lines():
        if not line:
            if data:
                yield Event(name, "\n".join(data), time.perf_counter() - started)
            name, data = "message", []
        elif line.startswith("event:"):
            name = line[len("event:") :].strip()
        elif line.startswith("data:"):
            data.append(line[len("data:") :].removeprefix(" "))


@dataclass
class Answer:
    status: int
    content_type: str
    body: str  # the JSON text of a non-streamed answer (an error); "" for a stream
    events: list[Event]

    def named(self, name: str) -> list[Event]:
        return [e for e in self.events if e.name == name]

    @property
    def deltas(self) -> list[str]:
        return [e.json()["text"] for e in self.named("delta")]


def stream_assist(url: str, headers: dict[str, str], body: dict[str, Any]) -> Answer:
    """POST /v1/assist with stream: true, reading the events as they arrive."""
    started = time.perf_counter()
    with (
        httpx.Client(timeout=30) as http,
        http.stream("POST", f"{url}/v1/assist", json={**body, "stream": True}, headers=headers) as response,
    ):
        kind = response.headers.get("content-type", "")
        if not kind.startswith("text/event-stream"):
            return Answer(response.status_code, kind, response.read().decode(), [])
        return Answer(response.status_code, kind, "", list(read_events(response, started)))
