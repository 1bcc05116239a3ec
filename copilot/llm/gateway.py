"""One entry point for a model turn: mask → provider → validate → unmask, or an honest offline answer.

The gateway never raises for a provider failure: a breaker that is open, retries that ran out, a
timeout, or output that is not the promised JSON all end in the template's offline answer, marked
``degraded`` with the reason, so the user still gets something grounded and the caller can say so.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from copilot.llm.breaker import CircuitBreaker
from copilot.llm.deadline import before_model_call, call_deadline, remaining
from copilot.llm.errors import ProviderError
from copilot.llm.offline import OfflineProvider
from copilot.llm.pii import Masker
from copilot.llm.provider import Provider, ToolCaller
from copilot.llm.retry import RetryPolicy
from copilot.llm.structured import JsonSchema
from copilot.llm.types import Completion, CompletionOptions, Message

if TYPE_CHECKING:
    from copilot.core.settings import Settings
    from prompts.registry import RenderedPrompt


@dataclass(frozen=True)
class LLMResult:
    text: str
    provider: str
    model: str
    degraded: bool = False
    # Machine-readable cause when degraded: breaker_open, retries_exhausted, timeout, invalid_json, …
    degraded_reason: str | None = None
    degraded_detail: str | None = None
    template: str | None = None  # id@version
    template_hash: str | None = None
    locale: str | None = None
    parsed: Any = None
    usage: dict[str, int] = field(default_factory=dict)
    timings_ms: dict[str, float] = field(default_factory=dict)
    injection_detected: bool = False
    flagged_documents: tuple[str, ...] = ()
    # Distinct values masked per kind (PHONE, EMAIL, …): counts only, never the values.
    masked: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if isinstance(self.parsed, BaseModel):
            out["parsed"] = self.parsed.model_dump(mode="json")
        out["flagged_documents"] = list(self.flagged_documents)
        return out


@dataclass(frozen=True)
class ToolPick:
    """What the model chose among the offered tools: ``names`` it called (maybe none), or why it could not
    be asked (``degraded_reason``: offline, breaker_open, timeout, http_error, ...)."""

    names: tuple[str, ...]
    provider: str
    degraded_reason: str | None = None
    masked: dict[str, int] = field(default_factory=dict)
    timings_ms: dict[str, float] = field(default_factory=dict)


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 3)


class Gateway:
    def __init__(
        self,
        provider: Provider,
        *,
        mask_names: bool = True,
        fallback: Provider | None = None,
        deadline_s: float | None = None,
    ) -> None:
        self.provider = provider
        # One model call's time in all (capped by the turn's, copilot/llm/deadline.py); None: no bound.
        self.deadline_s = deadline_s
        self.fallback: Provider = fallback or OfflineProvider()
        self.mask_names = mask_names

    @classmethod
    def from_settings(cls, settings: Settings) -> Gateway:
        provider: Provider
        if settings.llm_provider == "openai":
            from copilot.llm.openai_provider import OpenAIProvider

            provider = OpenAIProvider(
                model=settings.llm_model,
                base_url=settings.openai_base_url,
                api_key=settings.openai_api_key.get_secret_value() if settings.openai_api_key else None,
                timeout_s=settings.llm_timeout_s,
                deadline_s=settings.llm_deadline_s,
                retry=RetryPolicy(max_retries=settings.llm_max_retries),
                breaker=CircuitBreaker(settings.llm_breaker_failures, settings.llm_breaker_reset_s),
            )
        else:
            provider = OfflineProvider()
        return cls(provider, mask_names=settings.mask_contact_names, deadline_s=settings.llm_deadline_s)

    @property
    def is_offline(self) -> bool:
        return self.provider.name == "offline"

    def _bounded(self, options: CompletionOptions) -> tuple[CompletionOptions, ProviderError | None]:
        """The options with this call's deadline, or why the call must not go out at all (the turn's time
        is spent). Before a call goes out the turn's scope may release what it holds (its DB connection)."""
        if self.is_offline:
            return options, None
        deadline = call_deadline(self.deadline_s)
        left = remaining(deadline)
        if left is not None and left <= 0:
            return options, ProviderError("deadline", "the turn's time for model calls is spent")
        before_model_call()
        return replace(options, deadline=deadline), None

    def _masker(self, names: Iterable[str]) -> Masker | None:
        # Offline text never leaves the process, so there is nothing to mask.
        if self.is_offline:
            return None
        return Masker(names if self.mask_names else ())

    # --- templated turns ---------------------------------------------------------------------------

    def run(
        self,
        prompt: RenderedPrompt,
        *,
        names: Iterable[str] = (),
        json_schema: JsonSchema | None = None,
        injection_detected: bool = False,
        flagged_documents: Sequence[str] = (),
    ) -> LLMResult:
        """One turn for a rendered template. ``names``: contact names from the records, masked before sending."""
        result = self.chat(
            prompt.messages,
            names=names,
            json_schema=json_schema if json_schema is not None else prompt.output_schema,
            options=CompletionOptions.from_mapping(prompt.options, offline_text=prompt.offline_text),
        )
        return _with_template(result, prompt, injection_detected, flagged_documents)

    def stream(
        self,
        prompt: RenderedPrompt,
        *,
        names: Iterable[str] = (),
        injection_detected: bool = False,
        flagged_documents: Sequence[str] = (),
    ) -> GatewayStream:
        """Iterate for unmasked text deltas; ``.result`` holds the LLMResult once iteration is done."""
        return GatewayStream(
            self,
            prompt.messages,
            names=names,
            options=CompletionOptions.from_mapping(prompt.options, offline_text=prompt.offline_text),
            finish=lambda r: _with_template(r, prompt, injection_detected, flagged_documents),
        )

    # --- tool choice (the router's fallback) ------------------------------------------------------------

    def choose_tool(
        self, messages: Sequence[Message], tools: Sequence[Mapping[str, Any]], *, names: Iterable[str] = ()
    ) -> ToolPick:
        """Ask the model to call one of ``tools``, through the same masking, retries and breaker as every
        answer. Offline (or a backend without function calling) there is no one to ask: no names."""
        total = time.perf_counter()
        provider = self.provider
        if self.is_offline or not isinstance(provider, ToolCaller):
            return ToolPick((), provider.name, "offline")
        masker = self._masker(names)
        sent = [{**m, "content": masker.mask(m["content"])} for m in messages] if masker else list(messages)
        options, spent = self._bounded(CompletionOptions(temperature=0))
        if spent is not None:
            return ToolPick((), provider.name, spent.reason, timings_ms={"total": _ms(total)})
        try:
            picked = provider.choose_tool(sent, tools, options=options)
        except ProviderError as exc:
            return ToolPick((), provider.name, exc.reason, timings_ms={"total": _ms(total)})
        return ToolPick(
            tuple(picked), provider.name, None, masker.counts if masker else {}, timings_ms={"total": _ms(total)}
        )

    # --- raw messages (LangChain, the OpenAI-compatible endpoint) -------------------------------------

    def chat(
        self,
        messages: Sequence[Message],
        *,
        names: Iterable[str] = (),
        json_schema: JsonSchema | None = None,
        options: CompletionOptions | None = None,
    ) -> LLMResult:
        total = time.perf_counter()
        options = options or CompletionOptions()
        timings: dict[str, float] = {}
        masker = self._masker(names)
        t = time.perf_counter()
        sent = [{**m, "content": masker.mask(m["content"])} for m in messages] if masker else list(messages)
        timings["mask"] = _ms(t)

        t = time.perf_counter()
        options, degraded = self._bounded(options)
        try:
            if degraded is not None:
                raise degraded
            completion = self.provider.complete(sent, json_schema=json_schema, options=options)
        except ProviderError as exc:
            degraded = exc
            timings["provider"] = _ms(t)
            t = time.perf_counter()
            completion = self.fallback.complete(messages, json_schema=json_schema, options=options)
            timings["fallback"] = _ms(t)
        else:
            timings["provider"] = _ms(t)
            if masker:
                completion = _unmask_completion(completion, masker)
        timings["total"] = _ms(total)
        return LLMResult(
            text=completion.text,
            provider=completion.provider,
            model=completion.model,
            degraded=degraded is not None,
            degraded_reason=degraded.reason if degraded else None,
            degraded_detail=degraded.message if degraded else None,
            parsed=completion.parsed,
            usage=completion.usage,
            timings_ms=timings,
            masked=masker.counts if masker else {},
        )


def _unmask_completion(completion: Completion, masker: Masker) -> Completion:
    parsed = completion.parsed
    if isinstance(parsed, BaseModel):
        parsed = type(parsed).model_validate(masker.unmask_data(parsed.model_dump(mode="json")))
    elif parsed is not None:
        parsed = masker.unmask_data(parsed)
    return Completion(
        text=masker.unmask(completion.text),
        provider=completion.provider,
        model=completion.model,
        parsed=parsed,
        usage=completion.usage,
        latency_ms=completion.latency_ms,
        structured_mode=completion.structured_mode,
    )


def _with_template(
    result: LLMResult, prompt: RenderedPrompt, injection_detected: bool, flagged: Sequence[str]
) -> LLMResult:
    return replace(
        result,
        template=prompt.ref,
        template_hash=prompt.hash,
        locale=prompt.locale,
        injection_detected=injection_detected,
        flagged_documents=tuple(flagged),
    )


class GatewayStream:
    """Streamed turn. Deltas are unmasked on the fly (placeholders split across chunks are reassembled).

    A failure before the first delta falls back to the offline text (degraded). A failure after some text
    has been sent cannot be taken back: the stream ends there and the result keeps that partial text as
    such: ``degraded`` with the reason (stream_error, stream_incomplete, deadline) and a detail saying the
    answer stops where the model was cut off.
    """

    def __init__(
        self,
        gateway: Gateway,
        messages: Sequence[Message],
        *,
        names: Iterable[str],
        options: CompletionOptions,
        finish: Any = None,
    ) -> None:
        self._gateway = gateway
        self._messages = list(messages)
        self._names = list(names)
        self._options = options
        self._finish = finish
        self.result: LLMResult | None = None

    def __iter__(self) -> Iterator[str]:
        gw = self._gateway
        total = time.perf_counter()
        masker = gw._masker(self._names)
        sent = [{**m, "content": masker.mask(m["content"])} for m in self._messages] if masker else self._messages
        unmasker = masker.stream_unmasker() if masker else None
        parts: list[str] = []
        error: ProviderError | None = None
        provider, model = gw.provider.name, gw.provider.model
        first_ms: float | None = None
        options, error = gw._bounded(self._options)
        try:
            if error is not None:
                raise error
            for delta in gw.provider.stream(sent, options=options):
                out = unmasker.feed(delta) if unmasker else delta
                if first_ms is None:
                    first_ms = _ms(total)
                if out:
                    parts.append(out)
                    yield out
        except ProviderError as exc:
            error = exc
        if unmasker:
            tail = unmasker.flush()
            if tail:
                parts.append(tail)
                yield tail
        partial = error is not None and bool(parts)
        if error is not None and not parts:
            provider, model = gw.fallback.name, gw.fallback.model
            for delta in gw.fallback.stream(self._messages, options=self._options):
                parts.append(delta)
                yield delta
        timings = {"total": _ms(total)}
        if first_ms is not None:
            timings["first_delta"] = first_ms
        result = LLMResult(
            text="".join(parts),
            provider=provider,
            model=model,
            degraded=error is not None,
            degraded_reason=error.reason if error else None,
            degraded_detail=(
                f"partial answer: the text stops where the model's stream was cut off ({error.message})"
                if partial and error
                else error.message if error else None
            ),
            timings_ms=timings,
            masked=masker.counts if masker else {},
        )
        self.result = self._finish(result) if self._finish else result
