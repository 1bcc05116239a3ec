"""A circuit breaker: after N consecutive failed calls stop calling for ``reset_s``, then let one probe through.

Why: when the model endpoint is down, every turn would otherwise wait out its retries and timeouts
before degrading; with the breaker open the gateway answers offline at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class CircuitBreaker:
    def __init__(self, failures: int, reset_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.threshold = max(1, failures)
        self.reset_s = reset_s
        self._clock = clock
        self._lock = threading.Lock()
        self._consecutive = 0
        self._opened_at: float | None = None
        self._probing = False

    @property
    def state(self) -> str:
        with self._lock:
            return self._state()

    def _state(self) -> str:
        if self._opened_at is None:
            return "closed"
        if self._clock() - self._opened_at >= self.reset_s:
            return "half_open"
        return "open"

    def allow(self) -> bool:
        """True when a call may go out. In half-open state exactly one caller (the probe) gets True."""
        with self._lock:
            state = self._state()
            if state == "closed":
                return True
            if state == "half_open" and not self._probing:
                self._probing = True
                return True
            return False

    def record_success(self) -> None:
        with self._lock:
            self._consecutive = 0
            self._opened_at = None
            self._probing = False

    def record_failure(self) -> None:
        with self._lock:
            self._consecutive += 1
            if self._probing or self._consecutive >= self.threshold:
                self._opened_at = self._clock()  # a failed probe re-opens for a full period
            self._probing = False

    def release_probe(self) -> None:
        """A probe that ended without telling us anything about availability (e.g. invalid JSON)."""
        with self._lock:
            self._probing = False
