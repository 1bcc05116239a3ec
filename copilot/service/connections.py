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

from sqlalchemy.orm import Session

from copilot.core.logging import log_event

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
