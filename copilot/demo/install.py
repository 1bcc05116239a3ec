"""``crm-copilot demo init`` as a library call: schema, demo rows, optional scale rows, demo KB.

The demo's records, people and permission rules are written to JSONL files and imported through the
same importer a customer's export goes through (``_import_demo``). The CRM rows go in as one transaction:
a failure anywhere leaves the database as it was, so a re-run
never meets half a demo. ``reset`` drops every CRM table first.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from copilot.core.errors import ConfigError
from copilot.core.settings import Settings
from copilot.crm import models as m
from copilot.crm.db import check_connection, has_schema, transaction
from copilot.crm.permissions import rebuild_visibility
from copilot.demo.files import LINK_MODELS, loader_rows, write_import_files
from copilot.demo.generator import DEMO_SEED, DEMO_TODAY, DemoData, build_demo, load, reset_sequences
from copilot.demo.scale import ScaleInfo, build_scale, scale_present
from copilot.store.schema import drop_all, upgrade
from copilot.sync.importer import import_in_session
from copilot.sync.objects import IMPORTABLE
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
                    rebuild_visibility(conn)
                    result.created = True
        result.knowledge_base = _ingest_kb(runtime) if ingest_kb else "skipped"
        return result
    with transaction(runtime.sessions) as session:
        result.counts = _import_demo(session, build_demo(seed, today), runtime.settings.data_dir / "demo-import")
        if scale:
            result.scale = build_scale(session.connection(), scale, today=today, progress=progress)
    result.created = True
    with engine.begin() as conn:
        # Managers' "newest deals I may see" pages read the visibility closure once it is built.
        rebuild_visibility(conn)
    result.knowledge_base = _ingest_kb(runtime) if ingest_kb else "skipped"
    return result


def _import_demo(session: Session, data: DemoData, folder: Path) -> dict[str, int]:
    """generate → files → import: the demo's records, people and permission rules go through the importer
    (copilot/sync) from JSONL files, in the caller's one transaction; the child tables the importer does
    not take go through the bulk loader. Same rows, same ids as loading ``data`` directly."""
    counts: dict[str, int] = {}
    # The bulk loader first for what records point at (partners), the rest after the records.
    rest = loader_rows(data)
    first = DemoData({m.Partner: rest.rows.pop(m.Partner, [])})
    counts.update(load(session, first))
    for path, object_type in write_import_files(data, folder):
        report = import_in_session(session, path, object_type, allow_ids=True)
        if not report.ok:
            problems = report.file_errors or [str(e) for e in report.errors[:5]]
            raise ConfigError(f"demo import of {path.name} failed: {'; '.join(problems)}")
        counts[IMPORTABLE[object_type].__tablename__] = report.created
    # load() counts every table it knows, 0 for those it was not given: keep the importer's counts.
    counts.update({table: n for table, n in load(session, rest).items() if table not in counts or n})
    reset_sequences(session, list(IMPORTABLE.values()))
    for link in LINK_MODELS:
        counts[link.__tablename__] = data.count(link)
    return counts


def _ingest_kb(runtime: Deployment) -> str:
    """Ingest the demo KB (knowledge_base.indexer owns idempotence: unchanged documents are skipped)."""
    report = ingest_demo(runtime.kb, runtime.settings).to_dict()
    counts = ", ".join(f"{len(report[k])} {k}" for k in ("added", "updated", "unchanged", "removed"))
    errors = "; ".join(f"{e['path']}: {e['message']}" for e in report["errors"])
    return f"{counts}, {report['chunks_written']} chunks written" + (f"; errors: {errors}" if errors else "")
