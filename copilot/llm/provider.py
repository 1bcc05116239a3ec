"""The one interface every model backend implements."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from copilot.llm.structured import JsonSchema
from copilot.llm.types import Completion, CompletionOptions, Message


@runtime_checkable
class Provider(Protocol):
    name: str
    model: str

    def complete(
        self,
        messages: Sequence[Message],
        *,
        json_schema: JsonSchema | None = None,
        options: CompletionOptions | None = None,
    ) -> Completion:
        """One answer. Raises ProviderError (never a library exception) when it cannot give one."""
        ...

    def stream(self, messages: Sequence[Message], *, options: CompletionOptions | None = None) -> Iterator[str]:
        """Text deltas as they arrive. Raises ProviderError, possibly after some deltas."""
        ...


@runtime_checkable
class ToolCaller(Protocol):
    """A backend that can also pick one of several tools (function calling): the router's fallback."""

    def choose_tool(
        self,
        messages: Sequence[Message],
        tools: Sequence[Mapping[str, Any]],
        *,
        options: CompletionOptions | None = None,
    ) -> list[str]:
        """The names of the tools the model called (maybe none). Raises ProviderError."""
        ...
