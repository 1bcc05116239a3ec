"""Any OpenAI-compatible chat endpoint through the official ``openai`` client.

The client's own retries are off (``max_retries=0``): ours are bounded, jittered, honour a small
Retry-After, and feed the circuit breaker, so a dead endpoint costs one fast failure per turn instead
of a stack of timeouts.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import openai

from copilot.llm.breaker import CircuitBreaker
from copilot.llm.errors import ProviderError
from copilot.llm.retry import RetryPolicy, retry_after_seconds
from copilot.llm.structured import (
    InvalidStructuredOutput,
    JsonSchema,
    as_json_schema,
    schema_name,
    validate_json,
)
from copilot.llm.types import Completion, CompletionOptions, Message

T = TypeVar("T")
_RETRYABLE = (openai.RateLimitError, openai.InternalServerError, openai.APITimeoutError, openai.APIConnectionError)
STRUCTURED_MODES = ("json_schema", "json_object", "plain")


def _reason_for(exc: Exception) -> str:
    if isinstance(exc, openai.APITimeoutError):
        return "timeout"
    if isinstance(exc, openai.APIConnectionError):
        return "connection"
    return "retries_exhausted"


class OpenAIProvider:
    name = "openai"

    def __init__(
        self,
        *,
        model: str,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout_s: float = 30.0,
        retry: RetryPolicy | None = None,
        breaker: CircuitBreaker | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.model = model
        self.retry = retry or RetryPolicy()
        self.breaker = breaker or CircuitBreaker(failures=3, reset_s=30.0)
        self._sleep = sleep
        # Local OpenAI-compatible servers (vLLM, Ollama, llama.cpp) accept any key; the client insists on one.
        self.client = openai.OpenAI(
            base_url=base_url, api_key=api_key or "not-needed", timeout=timeout_s, max_retries=0
        )
        # The best structured-output mode this endpoint has accepted; downgraded on a 400 and remembered.
        self.structured_mode = "json_schema"

    # --- one HTTP call with our retries ------------------------------------------------------------

    def _call(self, **kwargs: Any) -> Any:
        attempts = self.retry.max_retries + 1
        last: Exception | None = None
        for attempt in range(1, attempts + 1):
            try:
                return self.client.chat.completions.create(model=self.model, **kwargs)
            except _RETRYABLE as exc:
                last = exc
                if attempt == attempts:
                    break
                wait = self.retry.backoff(attempt)
                headers = getattr(getattr(exc, "response", None), "headers", None)
                asked = retry_after_seconds(headers)
                if asked is not None:
                    if asked > self.retry.max_retry_after_s:
                        break  # the server wants a long pause: answer offline now instead
                    wait = asked
                self._sleep(wait)
            except openai.APIStatusError as exc:
                raise ProviderError("http_error", f"HTTP {exc.status_code}: {_short(exc)}", attempts=attempt) from exc
            except openai.APIError as exc:  # e.g. a response body that is not what the API promises
                raise ProviderError("http_error", _short(exc), attempts=attempt) from exc
            except ValueError as exc:  # the client parses the body itself: a non-JSON 200 lands here
                raise ProviderError(
                    "http_error", f"response body is not JSON: {_short(exc)}", attempts=attempt
                ) from exc
        assert last is not None
        raise ProviderError(_reason_for(last), f"{type(last).__name__}: {_short(last)}", attempts=attempt) from last  # type: ignore[arg-type]

    def _guarded(self, fn: Callable[[], T]) -> T:
        if not self.breaker.allow():
            raise ProviderError("breaker_open", f"circuit open after repeated failures of {self.name}")
        try:
            result = fn()
        except ProviderError as exc:
            if exc.counts_against_breaker:
                self.breaker.record_failure()
            else:
                self.breaker.record_success()
            raise
        self.breaker.record_success()
        return result

    # --- Provider interface ------------------------------------------------------------------------

    def complete(
        self,
        messages: Sequence[Message],
        *,
        json_schema: JsonSchema | None = None,
        options: CompletionOptions | None = None,
    ) -> Completion:
        return self._guarded(lambda: self._complete(list(messages), json_schema, options or CompletionOptions()))

    def _complete(self, messages: list[Message], schema: JsonSchema | None, options: CompletionOptions) -> Completion:
        start = time.perf_counter()
        base = _sampling(options)
        mode = None
        if schema is None:
            resp = self._call(messages=messages, **base)
        else:
            resp, mode = self._structured_call(messages, schema, base)
        text, usage = _text_and_usage(resp)
        parsed = None
        if schema is not None:
            try:
                parsed = validate_json(text, schema)
            except InvalidStructuredOutput as exc:
                raise ProviderError("invalid_json", str(exc)) from exc
        return Completion(
            text=text,
            provider=self.name,
            model=getattr(resp, "model", None) or self.model,
            parsed=parsed,
            usage=usage,
            latency_ms=round((time.perf_counter() - start) * 1000, 3),
            structured_mode=mode,
        )

    def _structured_call(self, messages: list[Message], schema: JsonSchema, base: dict[str, Any]) -> tuple[Any, str]:
        """Strongest mode first; a 400 about the format moves to the next and is remembered."""
        json_schema = as_json_schema(schema)
        hint = {
            "role": "system",
            "content": "Respond with one JSON object only, no prose, matching this JSON schema:\n"
            + json.dumps(json_schema, ensure_ascii=False),
        }
        for mode in STRUCTURED_MODES[STRUCTURED_MODES.index(self.structured_mode) :]:
            kwargs = dict(base)
            if mode == "json_schema":
                name = re.sub(r"[^A-Za-z0-9_-]", "_", schema_name(schema))[:64] or "output"
                kwargs["response_format"] = {
                    "type": "json_schema",
                    "json_schema": {"name": name, "schema": json_schema, "strict": False},
                }
                msgs = messages
            else:
                if mode == "json_object":
                    kwargs["response_format"] = {"type": "json_object"}
                msgs = [*messages, hint]  # json_object mode requires the word JSON in the prompt
            try:
                resp = self._call(messages=msgs, **kwargs)
            except ProviderError as exc:
                if mode != "plain" and _is_format_rejection(exc):
                    self.structured_mode = STRUCTURED_MODES[STRUCTURED_MODES.index(mode) + 1]
                    continue
                raise
            return resp, mode
        raise ProviderError("http_error", "endpoint rejected every structured-output mode")  # pragma: no cover

    def choose_tool(
        self,
        messages: Sequence[Message],
        tools: Sequence[Mapping[str, Any]],
        *,
        options: CompletionOptions | None = None,
    ) -> list[str]:
        """One function-calling request (``tool_choice: auto``): the names of the tools the model called.
        Same retries and breaker as ``complete``."""

        def call() -> list[str]:
            sampling = _sampling(options or CompletionOptions())
            resp = self._call(messages=list(messages), tools=list(tools), tool_choice="auto", **sampling)
            choices = getattr(resp, "choices", None)
            if not choices:
                raise ProviderError("http_error", f"response without choices: {str(resp)[:120]!r}")
            calls = choices[0].message.tool_calls or []
            return [c.function.name for c in calls if getattr(c, "type", "function") == "function"]

        return self._guarded(call)

    def stream(self, messages: Sequence[Message], *, options: CompletionOptions | None = None) -> Iterator[str]:
        if not self.breaker.allow():
            raise ProviderError("breaker_open", f"circuit open after repeated failures of {self.name}")
        try:
            stream = self._call(messages=list(messages), stream=True, **_sampling(options or CompletionOptions()))
        except ProviderError as exc:
            if exc.counts_against_breaker:
                self.breaker.record_failure()
            else:
                self.breaker.release_probe()
            raise
        return self._deltas(stream)

    def _deltas(self, stream: Any) -> Iterator[str]:
        outcome = "abandoned"  # the consumer may stop early; that says nothing about the endpoint
        try:
            for chunk in stream:
                if not getattr(chunk, "choices", None):
                    continue
                text = getattr(chunk.choices[0].delta, "content", None)
                if text:
                    yield text
            outcome = "ok"
        except Exception as exc:
            # Broad on purpose: malformed SSE (ValueError), a dropped connection (transport errors), an
            # error event (APIError) — whatever breaks a stream, the caller must get a ProviderError.
            outcome = "failed"
            raise ProviderError("stream_error", f"{type(exc).__name__}: {_short(exc)}") from exc
        finally:
            close = getattr(stream, "close", None)
            if close:
                close()
            if outcome == "ok":
                self.breaker.record_success()
            elif outcome == "failed":
                self.breaker.record_failure()
            else:
                self.breaker.release_probe()

    def list_models(self) -> list[str]:
        return [m.id for m in self.client.models.list()]


def _sampling(options: CompletionOptions) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if options.temperature is not None:
        out["temperature"] = options.temperature
    if options.max_tokens is not None:
        out["max_tokens"] = options.max_tokens
    return out


def _text_and_usage(resp: Any) -> tuple[str, dict[str, int]]:
    choices = getattr(resp, "choices", None)
    if not choices:
        raise ProviderError("http_error", f"response without choices: {str(resp)[:120]!r}")
    text = choices[0].message.content or ""
    usage = {}
    if getattr(resp, "usage", None) is not None:
        u = resp.usage
        usage = {
            "prompt_tokens": u.prompt_tokens or 0,
            "completion_tokens": u.completion_tokens or 0,
            "total_tokens": u.total_tokens or 0,
        }
    return text, usage


def _is_format_rejection(exc: ProviderError) -> bool:
    text = str(exc).lower()
    return (
        exc.reason == "http_error"
        and ("http 400" in text or "http 422" in text)
        and ("response_format" in text or "json_schema" in text or "json_object" in text or "not supported" in text)
    )


def _short(exc: BaseException) -> str:
    return str(exc).replace("\n", " ")[:300]
