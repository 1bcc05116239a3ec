"""Bounded retries with exponential backoff and full jitter; honours a small Retry-After."""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 2
    base_s: float = 0.5
    cap_s: float = 8.0
    # A server asking us to wait longer than this is treated as "not now": we give up and degrade.
    max_retry_after_s: float = 10.0

    def backoff(self, attempt: int) -> float:
        """Delay before retry number ``attempt`` (1-based): uniform in [0, min(cap, base·2^(attempt-1))]."""
        return random.uniform(0, min(self.cap_s, self.base_s * 2 ** (attempt - 1)))


def retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    """Seconds from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date); None if absent."""
    if headers is None:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        if parsed is None:
            return None
        return max(0.0, parsed.timestamp() - time.time())
