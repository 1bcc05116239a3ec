"""The service under slow failures, over HTTP with the real app, SQLite and the fake OpenAI server.

A small pool (2 connections, no overflow, 1 s wait) makes holding a connection across a model call
visible at once; the model's deadline is 1.5 s and a turn's 2.5 s so the bounds are tight.
"""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient

from copilot.api.app import create_app
from copilot.core.logging import EVENTS, JsonLines
from copilot.core.settings import Settings
from copilot.service.runtime import Runtime
from tests.fakes.openai_server import FakeOpenAIServer

QUESTION = {
    "message": "这个商机现在的阶段和金额是多少？",
    "skill": "record_qa",
    "context": {"object_type": "opportunity", "object_id": 1},
}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture(autouse=True)
def _fresh_queue(fake: FakeOpenAIServer, runtime: Runtime) -> None:
    fake._queue.clear()
    fake.requests.clear()
    runtime.llm.provider.breaker.record_success()  # type: ignore[attr-defined]  # each test starts closed


@pytest.fixture(scope="module")
def runtime(fake: FakeOpenAIServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    from copilot.demo.install import init_demo

    data_dir = tmp_path_factory.mktemp("reliability")
    settings: Settings = fake.settings(
        data_dir=data_dir,
        chroma_path=data_dir / "chroma",
        llm_deadline_s=1.5,
        turn_deadline_s=2.5,
        llm_timeout_s=5.0,
        llm_breaker_failures=50,
        db_pool_size=2,
        db_max_overflow=0,
        db_pool_timeout_s=1.0,
        sqlite_busy_timeout_s=2.0,  # the locked-database test waits this long for the lock
    )
    rt = Runtime(settings)
    init_demo(rt, ingest_kb=False)
    yield rt
    rt.close()


@pytest.fixture(scope="module")
def client(runtime: Runtime) -> TestClient:
    return TestClient(create_app(runtime), raise_server_exceptions=False)


@pytest.fixture(scope="module")
def auth(runtime: Runtime) -> dict[str, str]:
    from copilot.store.tokens import issue_token

    with runtime.sessions() as session:
        token = issue_token(session, "admin")
        session.commit()
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def log_buf() -> Iterator[io.StringIO]:
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.setFormatter(JsonLines())
    EVENTS.addHandler(handler)
    try:
        yield buf
    finally:
        EVENTS.removeHandler(handler)


def events(buf: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buf.getvalue().splitlines()]


def test_the_question_reaches_the_model(client: TestClient, auth: dict[str, str], fake: FakeOpenAIServer) -> None:
    fake.reply("商机处于方案阶段。")
    r = client.post("/v1/assist", json=QUESTION, headers=auth)
    assert r.status_code == 200, r.text
    assert len(fake.chat_requests()) == 1 and r.json()["degraded"] is False


def test_trickling_model_is_cut_at_the_deadline_and_answered_offline(
    client: TestClient, auth: dict[str, str], fake: FakeOpenAIServer
) -> None:
    fake.trickle("商机处于方案阶段，金额待确认。" * 5, every_s=0.5, chunk_size=4)
    t0 = time.monotonic()
    r = client.post("/v1/assist", json=QUESTION, headers=auth)
    took = time.monotonic() - t0
    body = r.json()
    assert r.status_code == 200, r.text
    assert body["degraded"] is True and "llm_degraded:deadline" in body["warnings"]
    assert body["provider"] == "offline" and body["answer"]
    assert took < 3.5  # 1.5 s deadline + the turn's own work; without it: minutes


def test_black_hole_costs_one_deadline_per_turn(
    client: TestClient, auth: dict[str, str], fake: FakeOpenAIServer
) -> None:
    fake.black_hole(times=2)
    for _ in range(2):
        t0 = time.monotonic()
        r = client.post("/v1/assist", json=QUESTION, headers=auth)
        assert r.status_code == 200 and r.json()["degraded"] is True
        assert "llm_degraded:deadline" in r.json()["warnings"]
        assert time.monotonic() - t0 < 3.5  # not 3 attempts × 5 s


def sse_events(text: str) -> list[tuple[str, str]]:
    out = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        name, data = "", []
        for line in block.splitlines():
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
        if data:
            out.append((name, "\n".join(data)))
    return out


def test_cut_stream_on_assist_is_degraded(
    client: TestClient, auth: dict[str, str], fake: FakeOpenAIServer, log_buf: io.StringIO
) -> None:
    fake.cut_stream("商机处于方案")
    r = client.post("/v1/assist", json={**QUESTION, "stream": True}, headers={**auth, "X-Request-ID": "req-cut-1"})
    assert r.status_code == 200
    results = [json.loads(d) for name, d in sse_events(r.text) if name == "result"]
    assert results, r.text[:500]
    [result] = results
    assert result["degraded"] is True and "llm_degraded:stream_incomplete" in result["warnings"]
    assert result["answer"] == "商机处于方案"  # the partial text, kept as such (README)
    [failure] = [e for e in events(log_buf) if e["event"] == "model_failure"]
    assert (failure["reason"], failure["request_id"]) == ("stream_incomplete", "req-cut-1")


def test_cut_stream_on_chat_completions_is_degraded(
    client: TestClient, auth: dict[str, str], fake: FakeOpenAIServer
) -> None:
    fake.cut_stream("商机处于方案")
    body = {
        "model": "crm-copilot",
        "stream": True,
        "messages": [{"role": "user", "content": QUESTION["message"]}],
        "skill": "record_qa",
        "context": QUESTION["context"],
    }
    r = client.post("/v1/chat/completions", json=body, headers=auth)
    assert r.status_code == 200, r.text[:300]
    chunks = [json.loads(d) for _, d in sse_events(r.text) if d != "[DONE]"]
    [closing] = [c for c in chunks if "copilot" in c]
    assert closing["copilot"]["degraded"] is True
    assert "llm_degraded:stream_incomplete" in closing["copilot"]["warnings"]


def test_slow_model_does_not_hold_connections(
    client: TestClient, auth: dict[str, str], fake: FakeOpenAIServer, log_buf: io.StringIO
) -> None:
    # 8 turns at once, each waiting 1.2 s on the model, over 2 connections with a 1 s wait for one: only
    # a turn that gives its connection back while the model writes lets the others in.
    fake.sleep(1.2, then="商机处于方案阶段。", times=8)
    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(lambda _: client.post("/v1/assist", json=QUESTION, headers=auth), range(8)))
    assert [r.status_code for r in responses] == [200] * 8, [r.text[:200] for r in responses if r.status_code != 200]
    assert sum(r.json()["degraded"] is False for r in responses) == 8
    assert not [e for e in events(log_buf) if e["event"] in ("http_5xx", "db_pool_exhausted")]


def test_pool_exhaustion_is_a_503_with_retry_after(
    client: TestClient, auth: dict[str, str], runtime: Runtime, log_buf: io.StringIO
) -> None:
    held = [runtime.engine.connect() for _ in range(2)]  # every connection busy
    try:
        t0 = time.monotonic()
        r = client.post("/v1/kb/search", json={"query": "交期"}, headers={**auth, "X-Request-ID": "req-pool-1"})
        took = time.monotonic() - t0
    finally:
        for conn in held:
            conn.close()
    assert r.status_code == 503 and r.headers["retry-after"] == "2"
    assert r.headers["content-type"].startswith("application/json")
    assert r.json()["error"]["code"] == "database_busy"
    assert r.headers["x-request-id"] == "req-pool-1"
    assert took < 3.0
    logged = events(log_buf)
    assert any(e["event"] == "db_pool_exhausted" and e["request_id"] == "req-pool-1" for e in logged)
    assert any(e["event"] == "http_5xx" and e["status"] == 503 and e["request_id"] == "req-pool-1" for e in logged)


# --- feedback: one rating per user per turn, replayable writes ---------------------------------------------


def a_turn(client: TestClient, auth: dict[str, str], fake: FakeOpenAIServer) -> str:
    fake.reply("商机处于方案阶段。")
    r = client.post("/v1/assist", json=QUESTION, headers=auth)
    assert r.status_code == 200
    return str(r.json()["trace_id"])


def feedback_rows(runtime: Runtime, trace_id: str) -> list[tuple[str, str | None]]:
    from sqlalchemy import select

    from copilot.store.models import Feedback

    with runtime.sessions() as session:
        return [(f.rating, f.comment) for f in session.scalars(select(Feedback).where(Feedback.trace_id == trace_id))]


def test_a_second_rating_changes_the_first(
    client: TestClient, auth: dict[str, str], fake: FakeOpenAIServer, runtime: Runtime
) -> None:
    trace = a_turn(client, auth, fake)
    first = client.post("/v1/feedback", json={"trace_id": trace, "rating": "up"}, headers=auth)
    second = client.post(
        "/v1/feedback", json={"trace_id": trace, "rating": "down", "comment": "金额不对"}, headers=auth
    )
    assert (first.status_code, first.json()["changed"]) == (201, False)
    assert (second.status_code, second.json()["changed"]) == (200, True)
    assert second.json()["id"] == first.json()["id"]
    assert feedback_rows(runtime, trace) == [("down", "金额不对")]


def test_a_retried_write_with_its_key_is_written_once(
    client: TestClient, auth: dict[str, str], fake: FakeOpenAIServer, runtime: Runtime
) -> None:
    trace = a_turn(client, auth, fake)
    body = {"trace_id": trace, "rating": "up", "comment": "有用"}
    key = {**auth, "Idempotency-Key": f"fb-{trace}"}
    first = client.post("/v1/feedback", json=body, headers=key)
    retry = client.post("/v1/feedback", json=body, headers=key)
    assert first.status_code == 201 and "idempotent-replayed" not in first.headers
    assert retry.status_code == 201 and retry.headers["idempotent-replayed"] == "true"
    assert retry.json() == first.json()
    assert feedback_rows(runtime, trace) == [("up", "有用")]

    reused = client.post("/v1/feedback", json={**body, "rating": "down"}, headers=key)
    assert reused.status_code == 409 and reused.json()["error"]["code"] == "idempotency_key_reused"
    assert feedback_rows(runtime, trace) == [("up", "有用")]


def test_concurrent_retries_write_one_row(
    client: TestClient, auth: dict[str, str], fake: FakeOpenAIServer, runtime: Runtime
) -> None:
    trace = a_turn(client, auth, fake)
    body = {"trace_id": trace, "rating": "down"}
    key = {**auth, "Idempotency-Key": f"race-{trace}"}
    with ThreadPoolExecutor(6) as pool:
        codes = list(pool.map(lambda _: client.post("/v1/feedback", json=body, headers=key).status_code, range(6)))
    assert set(codes) <= {200, 201} and codes.count(201) >= 1, codes
    assert feedback_rows(runtime, trace) == [("down", None)]


def test_migration_folds_duplicate_ratings_into_the_latest(tmp_path: Any) -> None:
    from sqlalchemy import create_engine, text

    from copilot.store.schema import upgrade

    engine = create_engine(f"sqlite:///{tmp_path / 'm.sqlite3'}")  # no FK pragma: rows without users
    upgrade(engine, "0004")
    with engine.begin() as conn:
        for rating in ("up", "down", "up"):
            conn.execute(
                text(
                    "INSERT INTO feedback (trace_id, user_id, rating, created_at) "
                    "VALUES ('t1', 7, :r, CURRENT_TIMESTAMP)"
                ),
                {"r": rating},
            )
        conn.execute(
            text(
                "INSERT INTO feedback (trace_id, user_id, rating, created_at) "
                "VALUES ('t1', 8, 'down', CURRENT_TIMESTAMP)"
            )
        )
    upgrade(engine)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT user_id, rating FROM feedback ORDER BY user_id")).all()
    assert [tuple(r) for r in rows] == [(7, "up"), (8, "down")]
    engine.dispose()


def test_a_wait_for_a_connection_is_logged_with_the_request_id(
    client: TestClient, auth: dict[str, str], runtime: Runtime, log_buf: io.StringIO
) -> None:
    import threading

    held = [runtime.engine.connect() for _ in range(2)]
    timer = threading.Timer(0.4, held[0].close)  # one comes back while the request waits
    timer.start()
    try:
        r = client.get("/v1/skills", headers={**auth, "X-Request-ID": "req-wait-1"})
    finally:
        timer.join()
        held[1].close()
    assert r.status_code == 200
    [wait] = [e for e in events(log_buf) if e["event"] == "db_pool_wait"]
    assert wait["request_id"] == "req-wait-1" and 300 < wait["ms"] < 1000 and wait["pool_size"] == 2


def test_a_locked_database_is_a_503_not_a_500(
    client: TestClient, auth: dict[str, str], fake: FakeOpenAIServer, runtime: Runtime, log_buf: io.StringIO
) -> None:
    import sqlite3

    trace = a_turn(client, auth, fake)
    # Another writer holds the SQLite file's write lock past the service's busy timeout (2 s here), as 20
    # clients writing feedback at once did in bench/load.py.
    path = runtime.settings.resolved_database_url.removeprefix("sqlite:///")
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        r = client.post("/v1/feedback", json={"trace_id": trace, "rating": "up"}, headers=auth)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert r.status_code == 503 and r.headers["retry-after"] == "2"
    assert r.json()["error"]["code"] == "database_busy"
    assert any(e["event"] == "db_unavailable" for e in events(log_buf))
    assert client.post("/v1/feedback", json={"trace_id": trace, "rating": "up"}, headers=auth).status_code == 201
