"""Provider failures. The gateway turns every one of them into an offline answer marked degraded."""

from __future__ import annotations

from typing import Literal

from copilot.core.errors import CopilotError

FailureReason = Literal[
    "breaker_open",
    "retries_exhausted",
    "timeout",
    "connection",
    "http_error",
    "invalid_json",
    "stream_error",
    "stream_incomplete",
    "deadline",
    "not_configured",
]


class ProviderError(CopilotError):
    status_code = 502
    code = "llm_unavailable"

    def __init__(self, reason: FailureReason, message: str, *, attempts: int = 1) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason: FailureReason = reason
        self.attempts = attempts

    @property
    def counts_against_breaker(self) -> bool:
        # A model that answers with bad JSON is up; only availability failures should open the breaker.
        return self.reason not in ("invalid_json", "breaker_open", "not_configured")
