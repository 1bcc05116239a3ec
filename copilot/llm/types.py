"""Plain value types shared by providers and the gateway."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Message = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": "..."}


@dataclass(frozen=True)
class CompletionOptions:
    temperature: float | None = None
    max_tokens: int | None = None
    # What a provider without a model answers: the template's rendered ``offline`` part.
    offline_text: str = ""
    # time.monotonic() by which the call must be over (connect, every chunk, retries); None: the provider's.
    deadline: float | None = None

    @classmethod
    def from_mapping(cls, options: dict[str, Any] | None, offline_text: str = "") -> CompletionOptions:
        options = options or {}
        return cls(
            temperature=options.get("temperature"), max_tokens=options.get("max_tokens"), offline_text=offline_text
        )


@dataclass(frozen=True)
class Completion:
    text: str
    provider: str
    model: str
    parsed: Any = None
    usage: dict[str, int] = field(default_factory=dict)
    latency_ms: float = 0.0
    # How structured output was obtained: "json_schema", "json_object", "plain" or None.
    structured_mode: str | None = None
