"""One source of truth across processes: what another process ingests is searchable here on the next
search — on the vector side too (Chroma's embedded client caches a collection's HNSW index per
process; retrievers/vector_store.fresh_client), on the BM25 side, and for removals.

The writer is a real second process (``python -m tests.knowledge_base.ingest_elsewhere``), as the CLI
is next to a running service.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from copilot.crm.permissions import ACL_EVERYTHING, scope_of_tokens
from knowledge_base.indexer import ingest_paths
from retrievers.hybrid import KnowledgeIndex
from tests.knowledge_base.helpers import make_index, write_doc

ROOT = Path(__file__).resolve().parents[2]


def ingest_elsewhere(data: Path, *args: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "tests.knowledge_base.ingest_elsewhere", str(data), *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def found(index: KnowledgeIndex, query: str, mode: str, scope=ACL_EVERYTHING) -> set[str]:  # type: ignore[no-untyped-def]
    return {h.doc_id for h in index.search(query, scope, k=10, mode=mode, per_document=None)}


def test_another_process_ingest_is_found_on_the_next_search(tmp_path: Path) -> None:
    data, docs = tmp_path / "data", tmp_path / "docs"
    write_doc(docs, "first", "## 正文\n冷柜保养第一篇。")
    index = make_index(data)
    assert ingest_paths(index, [docs], max_bytes=100_000).ok
    assert found(index, "冷柜保养", "vector") == {"first"}  # this process has read the collection now

    more = tmp_path / "more"
    write_doc(more, "zebra", "## Body\nzebra unicorn descaling manual.", title="Zebra unicorn", lang="en")
    write_doc(more, "secret", "## Body\nzebra unicorn for service only.", visibility="restricted",
              roles=("service_agent",), lang="en")
    ingest_elsewhere(data, str(more))

    # The very next search sees both sides of the new documents, filtered by permissions as ever.
    assert found(index, "zebra unicorn", "vector") >= {"zebra", "secret"}
    assert found(index, "zebra unicorn", "lexical") == {"zebra", "secret"}
    employee = scope_of_tokens({"public", "internal"})
    assert "secret" not in found(index, "zebra unicorn", "hybrid", employee)
    assert "zebra" in found(index, "zebra unicorn", "hybrid", employee)

    # A removal elsewhere is seen too: the old vectors are no result.
    ingest_elsewhere(data, "--delete", "zebra")
    assert "zebra" not in found(index, "zebra unicorn", "vector")
    assert "zebra" not in found(index, "zebra unicorn", "lexical")


def test_a_writer_here_after_a_writer_elsewhere_keeps_both(tmp_path: Path) -> None:
    """A writer whose embedded client is stale would write over the other process's vectors."""
    data = tmp_path / "data"
    index = make_index(data)
    write_doc(tmp_path / "a", "alpha", "## 正文\nalpha 冷柜。")
    assert ingest_paths(index, [tmp_path / "a"], max_bytes=100_000).ok
    write_doc(tmp_path / "b", "beta", "## 正文\nbeta 冷柜。")
    ingest_elsewhere(data, str(tmp_path / "b"))
    write_doc(tmp_path / "c", "gamma", "## 正文\ngamma 冷柜。")
    assert ingest_paths(index, [tmp_path / "c"], max_bytes=100_000).ok
    # And a third process, fresh, finds all three by vector.
    fresh = make_index(data)
    assert found(fresh, "冷柜", "vector") == {"alpha", "beta", "gamma"}
    assert found(index, "冷柜", "vector") == {"alpha", "beta", "gamma"}


def test_searches_do_not_wait_for_a_writer_of_this_process(tmp_path: Path) -> None:
    """An upload waiting for the machine-wide lock (held by another process) does not hold searches."""
    import fcntl

    data = tmp_path / "data"
    index = make_index(data)
    write_doc(tmp_path / "a", "alpha", "## 正文\nalpha 冷柜。")
    assert ingest_paths(index, [tmp_path / "a"], max_bytes=100_000).ok
    assert index.lock_path is not None
    with open(index.lock_path, "a+") as held:  # another open file: flock sees another owner
        fcntl.flock(held, fcntl.LOCK_EX)
        waiting = threading.Thread(target=lambda: index.writing().__enter__(), daemon=True)
        waiting.start()
        time.sleep(0.3)
        assert waiting.is_alive()  # the writer waits ...
        started = time.monotonic()
        assert found(index, "冷柜", "hybrid") == {"alpha"}  # ... and a search answers meanwhile
        assert time.monotonic() - started < 2.0
        fcntl.flock(held, fcntl.LOCK_UN)
    waiting.join(timeout=10)


def test_a_bounded_writer_gives_up_with_busy(tmp_path: Path) -> None:
    import fcntl

    import pytest

    from copilot.core.errors import Busy

    index = make_index(tmp_path / "data")
    assert index.lock_path is not None
    with open(index.lock_path, "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        started = time.monotonic()
        with pytest.raises(Busy) as caught, index.writing(wait_s=0.5):
            pass
        assert 0.5 <= time.monotonic() - started < 2.0
        assert caught.value.code == "kb_busy" and caught.value.retry_after >= 1
