"""SIGKILL in the middle of an ingest, ingest again: the index equals a clean ingest — no duplicate,
no missing, no orphan chunk visible to search."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from copilot.crm.permissions import ACL_EVERYTHING
from tests.knowledge_base.helpers import make_index, write_doc

ROOT = Path(__file__).resolve().parents[2]
N_DOCS = 45


def run_ingest(folder: Path, data: Path, delay: float) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.knowledge_base.crash_ingest", str(folder), str(data), str(delay)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def snapshot(data: Path) -> tuple[list[tuple[str, str]], dict[str, str]]:
    index = make_index(data)
    live = sorted((r.doc_id, r.chunk_id) for r in index.records.values())
    found = index.search("冷柜 保养 文档", ACL_EVERYTHING, k=50 * N_DOCS, per_document=None)
    hits = {h.chunk_id: h.doc_id for h in found}
    return live, hits


@pytest.mark.slow
def test_kill_mid_ingest_then_resume_equals_clean_ingest(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    for i in range(N_DOCS):
        body = "## 说明\n" + f"第{i}号冷柜保养文档。" * (10 + i % 7) + "\n## 步骤\n" + "检查。" * 50
        write_doc(folder, f"doc-{i:02d}", body)

    clean = tmp_path / "clean"
    proc = run_ingest(folder, clean, 0.0)
    assert proc.wait(timeout=300) == 0, proc.stderr.read() if proc.stderr else ""

    crashed = tmp_path / "crashed"
    for attempt, (after, pause) in enumerate([(5, 0.0), (6, 0.01), (7, 0.03)]):
        # Kill after some documents were embedded, at slightly different moments of the next write.
        proc = run_ingest(folder, crashed, 0.002)
        assert proc.stdout is not None
        seen = 0
        while seen < after and proc.stdout.readline():
            seen += 1
        time.sleep(pause)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        assert seen == after and proc.returncode == -signal.SIGKILL, f"attempt {attempt}: ended before the kill"
    # (No peeking at the store from this process until the writers are done: Chroma's embedded client
    # caches segments per process, so a reader here would not see a later subprocess's writes.)
    proc = run_ingest(folder, crashed, 0.0)
    assert proc.wait(timeout=300) == 0, proc.stderr.read() if proc.stderr else ""

    clean_live, clean_hits = snapshot(clean)
    crashed_live, crashed_hits = snapshot(crashed)
    assert len(clean_live) == len(set(clean_live)) and len({d for d, _ in clean_live}) == N_DOCS
    assert crashed_live == clean_live
    assert crashed_hits == clean_hits
    # And Chroma itself holds nothing else once a writer has swept the orphans.
    index = make_index(crashed)
    with index.writing():
        pass
    stored = sorted(c.chunk_id for c in index.store.iter_chunks())
    assert stored == sorted(c for _, c in clean_live)
