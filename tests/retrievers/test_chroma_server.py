"""The same index against a real Chroma server (settings.chroma_host): `chroma run` started here."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from copilot.core.settings import Settings
from copilot.crm.permissions import scope_of_tokens
from knowledge_base.indexer import ingest_paths
from retrievers.hybrid import KnowledgeIndex
from retrievers.vector_store import VectorStore, make_client
from tests.knowledge_base.helpers import FakeEmbedder, write_doc


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    # The virtualenv's own `chroma` first: `make test` runs .venv/bin/python without activating it.
    beside = Path(sys.executable).parent / "chroma"
    exe = str(beside) if beside.exists() else shutil.which("chroma")
    if exe is None:
        pytest.skip("SKIPPED LOUDLY: the `chroma` CLI is not on PATH; the HttpClient path is untested")
    port = free_port()
    proc = subprocess.Popen([exe, "run", "--path", str(tmp_path_factory.mktemp("chroma-srv")), "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None:
                pytest.skip(f"SKIPPED LOUDLY: `chroma run` exited with {proc.returncode}")
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.skip("SKIPPED LOUDLY: `chroma run` did not listen within 60 s")
    yield port
    proc.terminate()
    proc.wait(timeout=30)


def test_ingest_and_filtered_search_over_http(chroma_server: int, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", chroma_host="127.0.0.1", chroma_port=chroma_server)
    embedder = FakeEmbedder()
    index = KnowledgeIndex(VectorStore(make_client(settings), embedder.name, embedder.dim), embedder)
    folder = tmp_path / "docs"
    write_doc(folder, "open", "## 正文\n公开文档 srvword。", visibility="public")
    write_doc(folder, "secret", "## 正文\n服务内部 srvword。", visibility="restricted", roles=("service_agent",))
    assert ingest_paths(index, [folder], max_bytes=100_000).ok
    # A second client (another process, in effect) sees the same index.
    again = KnowledgeIndex(VectorStore(make_client(settings), embedder.name, embedder.dim), embedder)
    assert {h.doc_id for h in again.search("srvword", scope_of_tokens({"public"}), 10)} == {"open"}
    assert {h.doc_id for h in again.search("srvword", scope_of_tokens({"public", "role:service_agent"}), 10)} == {
        "open", "secret"}


def test_unreachable_server_is_a_config_error(tmp_path: Path) -> None:
    from copilot.core.errors import ConfigError

    with pytest.raises(ConfigError, match="cannot reach Chroma"):
        make_client(Settings(data_dir=tmp_path, chroma_host="127.0.0.1", chroma_port=free_port()))
