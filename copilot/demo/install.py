"""``crm-copilot demo init`` as a library call: schema, demo rows, optional scale rows, demo KB.

The CRM rows go in as one transaction: a failure anywhere leaves the database as it was, so a re-run
never meets half a demo. ``reset`` drops every CRM table first.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from copilot.core.settings import Settings
from copilot.crm import models as m
from copilot.crm.db import check_connection, has_schema, transaction
from copilot.demo.generator import DEMO_SEED, DEMO_TODAY, build_demo, load
from copilot.demo.scale import ScaleInfo, build_scale, scale_present
from copilot.store.schema import drop_all, upgrade
from knowledge_base.indexer import ingest_demo
from retrievers.hybrid import KnowledgeIndex


class Deployment(Protocol):
    """Where the demo goes: copilot.service.runtime.Runtime provides these (the demo does not import the
    composition root; the CLI and the tests hand it the runtime they built)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def engine(self) -> Engine: ...

    @property
    def sessions(self) -> sessionmaker[Session]: ...

    @property
    def kb(self) -> KnowledgeIndex: ...


@dataclass
class InitResult:
    created: bool  # False: the demo was already there and nothing was written
    counts: dict[str, int] = field(default_factory=dict)
    scale: ScaleInfo | None = None
    knowledge_base: str = "skipped"


def demo_present(engine: Engine) -> bool:
    if not has_schema(engine):
        return False
    with engine.connect() as conn:
        return conn.scalar(select(m.User.id).where(m.User.username == "admin")) is not None


def init_demo(runtime: Deployment, *, reset: bool = False, scale: int | None = None, seed: int = DEMO_SEED,
              today: dt.date = DEMO_TODAY, progress: Callable[[str, int], None] | None = None,
              ingest_kb: bool = True) -> InitResult:
    engine = runtime.engine
    check_connection(engine)
    if reset:
        drop_all(engine)
    upgrade(engine)
    result = InitResult(created=False)
    if demo_present(engine):
        if scale:
            with engine.begin() as conn:
                if not scale_present(conn):
                    result.scale = build_scale(conn, scale, today=today, progress=progress)
                    result.created = True
        result.knowledge_base = _ingest_kb(runtime) if ingest_kb else "skipped"
        return result
    with transaction(runtime.sessions) as session:
        result.counts = load(session, build_demo(seed, today))
        if scale:
            result.scale = build_scale(session.connection(), scale, today=today, progress=progress)
    result.created = True
    result.knowledge_base = _ingest_kb(runtime) if ingest_kb else "skipped"
    return result


def _ingest_kb(runtime: Deployment) -> str:
    """Ingest the demo KB (knowledge_base.indexer owns idempotence: unchanged documents are skipped)."""
    report = ingest_demo(runtime.kb, runtime.settings).to_dict()
    counts = ", ".join(f"{len(report[k])} {k}" for k in ("added", "updated", "unchanged", "removed"))
    errors = "; ".join(f"{e['path']}: {e['message']}" for e in report["errors"])
    return f"{counts}, {report['chunks_written']} chunks written" + (f"; errors: {errors}" if errors else "")
