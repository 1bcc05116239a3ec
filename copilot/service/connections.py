"""A turn holds a database connection only while it uses the database, never while a model answers.

Skills read through ``Records``, which hands out rows detached from the session (and the session does
not expire them on commit), so before a model call the turn can end its transaction: the connection
goes back to the pool for other requests, and whatever the turn writes afterwards (its audit row, the
conversation's turn) takes a fresh one. Writes made before the call (a new conversation row) are
committed at that point; a turn that fails later leaves that row, as a failed turn's question is still
part of its conversation.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session
from sqlalchemy.pool import ConnectionPoolEntry, QueuePool

from copilot.core.logging import log_event
from copilot.core.settings import Settings

# A release that takes this long means the commit waited on the database (a lock, a slow disk).
_SLOW_RELEASE_MS = 200.0


def release_before_model_call(session: Session) -> Callable[[], None]:
    def release() -> None:
        if not session.in_transaction():
            return
        t0 = time.perf_counter()
        session.commit()
        took = (time.perf_counter() - t0) * 1000
        if took > _SLOW_RELEASE_MS:
            log_event("db_slow_release", level="warning", ms=round(took, 1))

    return release


# A request that waited this long for a connection is worth a log line: the pool is too small for the load.
_SLOW_WAIT_S = 0.1


class TimedQueuePool(QueuePool):
    """SQLAlchemy's QueuePool that logs every wait for a connection longer than 100 ms (``db_pool_wait``)."""

    def _do_get(self) -> ConnectionPoolEntry:
        t0 = time.perf_counter()
        entry = super()._do_get()
        waited = time.perf_counter() - t0
        if waited > _SLOW_WAIT_S:
            log_event(
                "db_pool_wait",
                level="warning",
                ms=round(waited * 1000, 1),
                pool_size=self.size(),
                checked_out=self.checkedout(),
            )
        return entry


def engine_options(settings: Settings) -> dict[str, Any]:
    """create_engine keywords: the pool settings, and the timed pool wherever SQLAlchemy would pool with a
    queue (every server database and file SQLite; an in-memory SQLite keeps its single-connection pool)."""
    options: dict[str, Any] = dict(settings.pool_options)
    try:
        url = make_url(settings.resolved_database_url)
    except ArgumentError:
        return options  # make_engine turns a malformed URL into one clear ConfigError
    if not (url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")):
        options["poolclass"] = TimedQueuePool
    if url.get_backend_name() == "sqlite":
        options["sqlite_busy_timeout_s"] = settings.sqlite_busy_timeout_s
    return options
