"""One "today" for the whole service: the business date a deployment may pin (the demo does, so its
overdue/stale/SLA answers replay exactly), else the machine's clock."""

from __future__ import annotations

import datetime as dt

from copilot.core.settings import Settings


def today(settings: Settings | None = None) -> dt.date:
    pinned = getattr(settings, "today", None) if settings is not None else None
    if isinstance(pinned, dt.date):
        return pinned
    return dt.date.today()


def now(settings: Settings | None = None) -> dt.datetime:
    """Naive UTC 'now' on the business date: the pinned day keeps the wall-clock time of day."""
    current = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    day = today(settings)
    return current if day == current.date() else dt.datetime.combine(day, current.time())


class BusinessClock:
    """``today``/``now`` above as an object: the clock a skill is handed (skills.ports.Clock)."""

    def __init__(self, settings: Settings | None = None) -> None:
        self._settings = settings

    @property
    def pinned(self) -> bool:
        """Whether the deployment pins its business date (the demo): its answers must replay exactly, so
        time-of-day questions (an SLA "now") read the pinned day at a fixed hour, not the wall clock's."""
        return isinstance(getattr(self._settings, "today", None), dt.date)

    def today(self) -> dt.date:
        return today(self._settings)

    def now(self) -> dt.datetime:
        return now(self._settings)
