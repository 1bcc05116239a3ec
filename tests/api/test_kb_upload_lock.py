"""An upload that waits for another process's ingest does not stall search (issue 10, item 5).

Another process holds the knowledge base's writer lock, as ``crm-copilot kb ingest`` does while it
writes. Over real HTTP: an upload waits at most ``KB_WRITE_WAIT_S`` and answers 503 ``kb_busy`` with
Retry-After (nothing written); every search made meanwhile answers in well under that wait; once the lock is
free the same upload is a 201 and is found. Before the fix the waiting upload held the lock searches
take, so no search answered until the other ingest finished.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from copilot.api.app import create_app
from copilot.core.settings import Settings
from copilot.service.runtime import Runtime
from tests.api.conftest import serve
from tests.knowledge_base.helpers import make_index, write_doc

WAIT_S = 4.0
SEARCH_BOUND_S = WAIT_S / 2  # a search that waited for the upload would take about WAIT_S
DOC = "---\ntitle: 封条更换\nvisibility: internal\nlang: zh\n---\n\n## 步骤\n断电后更换门封条 sealword。\n"
HOLDER = """
import fcntl, sys
handle = open(sys.argv[1], "a+")
fcntl.flock(handle, fcntl.LOCK_EX)
print("locked", flush=True)
sys.stdin.read()  # until the test closes our stdin
"""


@dataclass
class Live:
    url: str
    lock_path: Path
    headers: dict[str, str]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    from copilot.demo.install import init_demo
    from copilot.store.tokens import issue_token
    from knowledge_base.indexer import ingest_paths

    data = tmp_path_factory.mktemp("kb-lock")
    runtime = Runtime(Settings(data_dir=data, kb_write_wait_s=WAIT_S))
    init_demo(runtime, ingest_kb=False)
    index = make_index(data / "kb")  # the fast fake embedder: this test is about locks, not ranking
    runtime.__dict__["kb"] = index
    write_doc(data / "docs", "cooler", "## 正文\n冷柜保养 coolword。")
    assert ingest_paths(index, [data / "docs"], max_bytes=100_000).ok
    with runtime.sessions() as session:
        token = issue_token(session, "admin")
        session.commit()
    assert index.lock_path is not None
    try:
        with serve(create_app(runtime)) as server:
            # A first search warms what every search shares (tokenizer, the collection's index).
            httpx.post(f"{server.url}/v1/kb/search", headers={"Authorization": f"Bearer {token}"},
                       json={"query": "冷柜保养"}, timeout=60).raise_for_status()
            yield Live(server.url, index.lock_path, {"Authorization": f"Bearer {token}"})
    finally:
        runtime.close()


def hold_lock(path: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


def release(proc: subprocess.Popen[str]) -> None:
    assert proc.stdin is not None
    proc.stdin.close()
    proc.wait(timeout=10)


def test_searches_answer_while_an_upload_waits_then_the_upload_is_a_503(live: Live) -> None:
    holder = hold_lock(live.lock_path)
    try:
        outcome: dict[str, object] = {}

        def upload() -> None:
            started = time.monotonic()
            outcome["response"] = httpx.post(f"{live.url}/v1/kb/documents", headers=live.headers, timeout=60,
                                             json={"filename": "seal.md", "content": DOC})
            outcome["elapsed"] = time.monotonic() - started

        uploading = threading.Thread(target=upload)
        uploading.start()
        time.sleep(0.2)  # the upload is now waiting for the lock
        latencies = []
        while uploading.is_alive():
            started = time.monotonic()
            r = httpx.post(f"{live.url}/v1/kb/search", headers=live.headers, json={"query": "冷柜保养"}, timeout=30)
            latencies.append(time.monotonic() - started)
            assert r.status_code == 200 and [x["doc_id"] for x in r.json()["results"]] == ["cooler"]
            time.sleep(0.05)
        uploading.join()
    finally:
        release(holder)
    assert len(latencies) >= 3, "the upload did not wait: nothing was measured"
    assert max(latencies) < SEARCH_BOUND_S, f"a search took {max(latencies):.2f} s while the upload waited"
    response = outcome["response"]
    assert isinstance(response, httpx.Response)
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "kb_busy"
    assert int(response.headers["Retry-After"]) >= 1
    assert WAIT_S <= float(outcome["elapsed"]) < WAIT_S + 3  # type: ignore[arg-type]
    # Nothing of the refused upload was written.
    r = httpx.post(f"{live.url}/v1/kb/search", headers=live.headers, json={"query": "sealword"}, timeout=30)
    assert "seal" not in [x["doc_id"] for x in r.json()["results"]]


def test_an_upload_whose_wait_ends_in_time_is_written(live: Live) -> None:
    holder = hold_lock(live.lock_path)
    threading.Timer(0.5, release, args=(holder,)).start()  # the other ingest finishes within the wait
    started = time.monotonic()
    r = httpx.post(f"{live.url}/v1/kb/documents", headers=live.headers, timeout=60,
                   json={"filename": "seal.md", "content": DOC})
    assert r.status_code == 201, r.text
    assert time.monotonic() - started < WAIT_S + 2
    r = httpx.post(f"{live.url}/v1/kb/search", headers=live.headers, json={"query": "sealword"}, timeout=30)
    assert [x["doc_id"] for x in r.json()["results"]][:1] == ["seal"]
