"""The gateway as a LangChain chat model, for users who compose chains of their own.

Import this module explicitly; ``copilot.llm`` never imports it, so the request path does not load
``langchain_core``. Calls go through ``Gateway.chat``: the same masking, retries, breaker and offline
fallback as a skill turn (offline, a raw message list has no template offline part, so the answer says so).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import ConfigDict, Field

from copilot.llm.gateway import Gateway, GatewayStream
from copilot.llm.types import CompletionOptions, Message

_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool"}


def _to_messages(messages: Sequence[BaseMessage]) -> list[Message]:
    return [{"role": _ROLES.get(m.type, "user"), "content": m.text} for m in messages]


class GatewayChatModel(BaseChatModel):
    """``GatewayChatModel(gateway=runtime.llm, names=["王建国"])``; ``names`` are masked before sending."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    gateway: Gateway
    names: list[str] = Field(default_factory=list)
    temperature: float | None = None
    max_tokens: int | None = None

    @property
    def _llm_type(self) -> str:
        return "crm-copilot-gateway"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"provider": self.gateway.provider.name, "model": self.gateway.provider.model}

    def _options(self) -> CompletionOptions:
        return CompletionOptions(temperature=self.temperature, max_tokens=self.max_tokens)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        result = self.gateway.chat(_to_messages(messages), names=self.names, options=self._options())
        meta = {
            "provider": result.provider,
            "model": result.model,
            "degraded": result.degraded,
            "degraded_reason": result.degraded_reason,
        }
        message = AIMessage(content=result.text, response_metadata=meta)
        return ChatResult(generations=[ChatGeneration(message=message)], llm_output=meta)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        stream = GatewayStream(self.gateway, _to_messages(messages), names=self.names, options=self._options())
        for delta in stream:
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=delta))
            if run_manager:
                run_manager.on_llm_new_token(delta, chunk=chunk)
            yield chunk
