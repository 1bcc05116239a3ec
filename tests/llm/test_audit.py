"""One audit row per turn, with ids and template identity, never prompt text."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from copilot.core.settings import Settings
from copilot.crm.db import make_engine, session_factory
from copilot.crm.models import Base
from copilot.llm.gateway import Gateway
from copilot.store.audit import record_turn
from copilot.store.models import AuditEvent
from prompts import Registry
from tests.fakes.openai_server import FakeOpenAIServer
from tests.prompts.samples import SAMPLES


def test_record_turn_writes_the_row(tmp_path: Path, fake_openai: FakeOpenAIServer) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'audit.sqlite3'}")
    Base.metadata.create_all(engine)
    p = Registry.load().get("record_qa", version=1).render(SAMPLES["record_qa"])
    fake_openai.error(500, times=3)
    result = Gateway.from_settings(fake_openai.settings(llm_max_retries=0)).run(
        p, injection_detected=True, flagged_documents=["kb:x"]
    )
    sessions = session_factory(engine)
    with sessions() as session:
        record_turn(
            session,
            user_id=None,
            skill="record_qa",
            result=result,
            trace_id="trace-1",
            record_ids=["opportunity:12", "activity:301", "opportunity:12"],
            document_ids=["kb:lc-3015-product-sheet#2"],
            timings_ms={"retrieve": 12.5},
        )
        session.commit()
    with sessions() as session:
        row = session.scalars(select(AuditEvent)).one()
    engine.dispose()

    assert (row.trace_id, row.skill, row.template, row.template_hash) == ("trace-1", "record_qa", "record_qa@1", p.hash)
    assert (row.provider, row.degraded) == ("offline", True)
    assert row.record_ids == ["opportunity:12", "activity:301"]
    assert row.document_ids == ["kb:lc-3015-product-sheet#2"]
    assert row.timings_ms["retrieve"] == 12.5 and "total" in row.timings_ms
    assert row.timings_ms["degraded_reason"] == "retries_exhausted"
    assert row.timings_ms["injection_detected"] is True and row.timings_ms["flagged_documents"] == ["kb:x"]


def test_offline_turn_row(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'audit.sqlite3'}")
    Base.metadata.create_all(engine)
    p = Registry.load().get("ticket_lookup", version=1, locale="en").render(SAMPLES["ticket_lookup"])
    result = Gateway.from_settings(Settings(llm_provider="offline")).run(p)
    with session_factory(engine)() as session:
        event = record_turn(session, user_id=None, skill="ticket_lookup", result=result)
        assert event.id is not None and len(event.trace_id) == 32
        assert (event.provider, event.degraded, event.template) == ("offline", False, "ticket_lookup@1")
    engine.dispose()
