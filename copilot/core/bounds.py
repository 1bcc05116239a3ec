"""The service's bounds, in one place: how large an id, a body, a query, a document or a rendered prompt
may be. The numbers are settings (``copilot.core.settings``); the rules that apply them live here, so
every surface (HTTP, MCP, CLI, ingestion) refuses or trims the same way.

Nothing here imports HTTP: a refusal is a CopilotError subclass the surfaces already turn into 4xx.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from copilot.core.errors import PayloadTooLarge, Unprocessable

# Every id column is a 64-bit integer on PostgreSQL and MariaDB; SQLite raises OverflowError beyond it.
MAX_ID = 2**63 - 1
# A JSON-Schema fragment for an id, for input schemas declared in code.
ID_SCHEMA: dict[str, Any] = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
# The separator a trimmed query carries where its middle was cut out.
ELISION = " … "


def query_text(text: str, limit: int) -> str:
    """The part of a (possibly long) message that routing and search look at.

    The embedding model's cost grows with the text's length (a 4,000-character message took half a
    minute), and its meaning is carried by the start (what the user asks) and the end (the request after a
    pasted e-mail: "帮我回复一下"). So a text over ``limit`` characters keeps its head and its tail. The
    skills still receive the whole message; only what is embedded and matched is bounded.
    """
    text = text.strip()
    if limit <= 0 or len(text) <= limit:
        return text
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    keep = max(limit - len(ELISION), 2)
    tail = keep // 4
    head = keep - tail
    return text[:head].rstrip() + ELISION + text[len(text) - tail :].lstrip()


def _ints(value: Any, path: str) -> Iterator[tuple[str, int]]:
    if isinstance(value, bool):
        return
    if isinstance(value, int):
        yield path, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _ints(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from _ints(item, f"{path}[{i}]")


def check_integers(value: Any, where: str = "input") -> None:
    """Refuse (422, naming the field) any integer a database or the C libraries below cannot hold.

    Skill input schemas declare their own ranges; this is the floor under every one of them, so a skill
    declared tomorrow without a ``maximum`` still cannot reach an OverflowError."""
    for path, number in _ints(value, where):
        if not -MAX_ID - 1 <= number <= MAX_ID:
            raise Unprocessable(f"{path}: {number} is outside the 64-bit integer range", code="invalid_request")


def check_size(what: str, size: int, limit: int, unit: str = "bytes") -> None:
    """413 with a message that says what was too large and what the limit is."""
    if size > limit:
        raise PayloadTooLarge(f"{what} is {size:,} {unit}; the limit is {limit:,} {unit}")
