"""Any OpenAI-compatible chat endpoint through the official ``openai`` client.

The client's own retries are off (``max_retries=0``): ours are bounded, jittered, honour a small
Retry-After, and feed the circuit breaker, so a dead endpoint costs one fast failure per turn instead
of a stack of timeouts. Every call has one deadline (``deadline_s``, or the one the gateway passes in
the options, capped by the turn's) covering connect, every chunk and every retry: past it the call is
abandoned (copilot/llm/deadline.py), fails with reason ``deadline`` and counts against the breaker.
A stream counts as complete only when the model says it finished (a chunk with ``finish_reason``);
one that ends before it, or breaks, fails with ``stream_incomplete`` / ``stream_error``.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import openai

from copilot.core.logging import log_event
from copilot.llm.breaker import CircuitBreaker
from copilot.llm.deadline import Abandoned, DeadlineExceeded, iterate_before, remaining, run_before
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
        deadline_s: float | None = None,
        retry: RetryPolicy | None = None,
        breaker: CircuitBreaker | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.model = model
        self.timeout_s = timeout_s
        self.deadline_s = deadline_s
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

    def _deadline(self, options: CompletionOptions) -> float | None:
        if options.deadline is not None:
            return options.deadline
        return time.monotonic() + self.deadline_s if self.deadline_s else None

    def _call(self, abandoned: Abandoned, deadline: float | None, **kwargs: Any) -> Any:
        attempts = self.retry.max_retries + 1
        last: Exception | None = None
        for attempt in range(1, attempts + 1):
            left = remaining(deadline)
            if abandoned or (left is not None and left <= 0):
                raise ProviderError(
                    "deadline", f"no answer before the deadline ({attempt - 1} attempts)", attempts=attempt
                )
            # The client's timeout bounds one read; never let one read outlive the call's deadline.
            timeout = self.timeout_s if left is None else min(self.timeout_s, left)
            try:
                return self.client.chat.completions.create(model=self.model, timeout=timeout, **kwargs)
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
                left = remaining(deadline)
                if left is not None and wait >= left:
                    break  # the retry could not finish in time: fail now rather than at the deadline
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

    def _guarded(self, fn: Callable[[Abandoned], T], deadline: float | None) -> T:
        """``fn`` in a worker bounded by ``deadline``, with the breaker's say before and its count after.
        An abandoned worker's late outcome is not counted: the caller already counted the deadline."""
        if not self.breaker.allow():
            raise ProviderError("breaker_open", f"circuit open after repeated failures of {self.name}")

        def work(abandoned: Abandoned) -> T:
            try:
                result = fn(abandoned)
            except ProviderError as exc:
                if not abandoned:
                    self._count(exc)
                raise
            if not abandoned:
                self._record(success=True)
            return result

        try:
            return run_before(deadline, work)
        except DeadlineExceeded:
            exc = _deadline_error(deadline)
            self._count(exc)
            raise exc from None

    def _count(self, exc: ProviderError) -> None:
        log_event("model_failure", level="warning", provider=self.name, model=self.model, reason=exc.reason,
                  detail=exc.message[:300], attempts=exc.attempts)
        self._record(success=not exc.counts_against_breaker)

    def _record(self, *, success: bool) -> None:
        before = self.breaker.state
        if success:
            self.breaker.record_success()
        else:
            self.breaker.record_failure()
        after = self.breaker.state
        if after != before:
            log_event("breaker_state", level="warning" if after == "open" else "info", provider=self.name,
                      model=self.model, before=before, after=after)

    # --- Provider interface ------------------------------------------------------------------------

    def complete(
        self,
        messages: Sequence[Message],
        *,
        json_schema: JsonSchema | None = None,
        options: CompletionOptions | None = None,
    ) -> Completion:
        options = options or CompletionOptions()
        deadline = self._deadline(options)
        return self._guarded(lambda ab: self._complete(list(messages), json_schema, options, ab, deadline), deadline)

    def _complete(
        self,
        messages: list[Message],
        schema: JsonSchema | None,
        options: CompletionOptions,
        abandoned: Abandoned,
        deadline: float | None,
    ) -> Completion:
        start = time.perf_counter()
        base = _sampling(options)
        mode = None
        if schema is None:
            resp = self._call(abandoned, deadline, messages=messages, **base)
        else:
            resp, mode = self._structured_call(messages, schema, base, abandoned, deadline)
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

    def _structured_call(
        self,
        messages: list[Message],
        schema: JsonSchema,
        base: dict[str, Any],
        abandoned: Abandoned,
        deadline: float | None,
    ) -> tuple[Any, str]:
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
                resp = self._call(abandoned, deadline, messages=msgs, **kwargs)
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

        opts = options or CompletionOptions()
        deadline = self._deadline(opts)

        def call(abandoned: Abandoned) -> list[str]:
            sampling = _sampling(opts)
            resp = self._call(
                abandoned, deadline, messages=list(messages), tools=list(tools), tool_choice="auto", **sampling
            )
            choices = getattr(resp, "choices", None)
            if not choices:
                raise ProviderError("http_error", f"response without choices: {str(resp)[:120]!r}")
            calls = choices[0].message.tool_calls or []
            return [c.function.name for c in calls if getattr(c, "type", "function") == "function"]

        return self._guarded(call, deadline)

    def stream(self, messages: Sequence[Message], *, options: CompletionOptions | None = None) -> Iterator[str]:
        if not self.breaker.allow():
            raise ProviderError("breaker_open", f"circuit open after repeated failures of {self.name}")
        options = options or CompletionOptions()
        deadline = self._deadline(options)
        abandoned = Abandoned()
        opened: list[Any] = []
        deltas = self._deltas(list(messages), options, deadline, abandoned, opened)

        def close() -> None:
            for stream in opened:
                stream.close()

        return self._bounded(iterate_before(deadline, deltas, abandoned, close), deadline)

    def _bounded(self, deltas: Iterator[str], deadline: float | None) -> Iterator[str]:
        try:
            yield from deltas
        except DeadlineExceeded:
            exc = _deadline_error(deadline)
            self._count(exc)
            raise exc from None

    def _deltas(
        self,
        messages: list[Message],
        options: CompletionOptions,
        deadline: float | None,
        abandoned: Abandoned,
        opened: list[Any],
    ) -> Iterator[str]:
        """The model's text pieces; the breaker hears how the stream ended unless the caller abandoned it
        (the deadline, counted by the caller) or stopped early (which says nothing about the endpoint)."""
        try:
            stream = self._call(abandoned, deadline, messages=messages, stream=True, **_sampling(options))
        except ProviderError as exc:
            if abandoned:
                self.breaker.release_probe()
            else:
                self._count(exc)
            raise
        opened.append(stream)
        outcome: ProviderError | None = None
        finished = False
        try:
            for chunk in stream:
                if not getattr(chunk, "choices", None):
                    continue
                choice = chunk.choices[0]
                text = getattr(choice.delta, "content", None)
                if getattr(choice, "finish_reason", None):
                    finished = True
                if text:
                    yield text
            if not finished:
                # The connection closed before the model said it was done: what came is a fragment.
                outcome = ProviderError("stream_incomplete", "the stream ended before the model finished")
                raise outcome
        except ProviderError:
            raise
        except GeneratorExit:
            raise
        except Exception as exc:
            # Broad on purpose: malformed SSE (ValueError), a dropped connection (transport errors), an
            # error event (APIError) — whatever breaks a stream, the caller must get a ProviderError.
            outcome = ProviderError("stream_error", f"{type(exc).__name__}: {_short(exc)}")
            raise outcome from exc
        finally:
            stream.close()
            if abandoned:
                self.breaker.release_probe()
            elif outcome is not None:
                self._count(outcome)
            elif finished:
                self._record(success=True)
            else:
                self.breaker.release_probe()  # the consumer stopped early

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


def _deadline_error(deadline: float | None) -> ProviderError:
    late = -(remaining(deadline) or 0.0)
    return ProviderError("deadline", f"the model did not finish before the deadline (checked {late:.1f} s after it)")


def _short(exc: BaseException) -> str:
    return str(exc).replace("\n", " ")[:300]
