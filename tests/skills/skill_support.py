"""Shared set-up for the writing-skill tests: one demo org with a real knowledge index, and a turn helper.

The index is the product's own (retrievers.hybrid.KnowledgeIndex, ACL-partitioned Chroma + BM25, filled
by knowledge_base.indexer from the demo corpus); only the embedding model is swapped for a small
deterministic hashing embedder, so the suite does not spend minutes embedding 48 articles on a CPU.
Retrieval quality of the real model is the retrieval suite's business, not these tests'.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pytest
from sqlalchemy.orm import Session

from copilot.core.settings import Settings
from copilot.crm.principal import load_principal
from copilot.service.runtime import Runtime
from skills.base import PageContext, SkillRequest, SkillResult


class HashEmbedder:
    """Bag of character bigrams and Latin words hashed into 256 dimensions, L2-normalised."""

    name = "test-hash-256"
    dim = 256

    def _one(self, text: str) -> np.ndarray:
        vec = np.zeros(self.dim, dtype=np.float32)
        tokens = re.findall(r"[A-Za-z0-9-]+", text.lower())
        cjk = re.findall(r"[\u4e00-\u9fff]", text)
        tokens += ["".join(p) for p in itertools.pairwise(cjk)]
        for tok in tokens:
            vec[int(hashlib.md5(tok.encode()).hexdigest()[:6], 16) % self.dim] += 1.0
        norm = float(np.linalg.norm(vec))
        return vec / norm if norm else vec

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([self._one(t) for t in texts]) if texts else np.zeros((0, self.dim), dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return self._one(text)


def build_runtime(settings: Settings) -> Runtime:
    """A runtime on ``settings`` whose knowledge index uses the hashing embedder (demo KB ingested)."""
    from knowledge_base.indexer import DEMO_CORPUS, ingest_paths
    from retrievers.hybrid import KnowledgeIndex
    from retrievers.vector_store import VectorStore, make_client

    runtime = Runtime(settings)
    embedder = HashEmbedder()
    store = VectorStore(make_client(settings), embedder.name, embedder.dim, namespace="kb")
    index = KnowledgeIndex(store, embedder, lock_path=settings.data_dir / "kb.write.lock")
    if not index.document_ids():
        ingest_paths(index, [DEMO_CORPUS], max_bytes=settings.max_document_bytes, prune=True)
    runtime.__dict__["kb"] = index  # Runtime.kb is a cached_property: this is its cached value
    return runtime


@pytest.fixture(scope="session")
def skills_runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    from copilot.demo.install import init_demo

    data_dir = tmp_path_factory.mktemp("writing-skills")
    settings = Settings(data_dir=data_dir, database_url=f"sqlite:///{data_dir / 'crm.sqlite3'}")
    runtime = build_runtime(settings)
    init_demo(runtime, ingest_kb=False)
    yield runtime
    runtime.close()


def ask(
    runtime: Runtime,
    username: str,
    skill: str,
    message: str = "",
    context: str | None = None,
    input: dict[str, Any] | None = None,
    locale: str | None = None,
    session: Session | None = None,
) -> SkillResult:
    """One assistant turn, exactly as the API runs it (route → checks → skill → citation filter → audit)."""
    page = None
    if context:
        kind, _, rid = context.partition(":")
        page = PageContext(object_type=kind, object_id=int(rid))
    request = SkillRequest(message=message, input=input or {}, context=page, locale=locale)  # type: ignore[arg-type]
    if session is not None:
        return runtime.assistant.turn(session, load_principal(session, username), request, skill=skill)
    with runtime.sessions() as own:
        result = runtime.assistant.turn(own, load_principal(own, username), request, skill=skill)
        own.commit()
        return result


def with_fake_model(runtime: Runtime, fake_openai: Any) -> Runtime:
    """The same database and index, answered by the fake OpenAI-compatible server over real HTTP."""
    s = runtime.settings
    settings = fake_openai.settings(data_dir=s.data_dir, database_url=s.database_url, llm_max_retries=0)
    fake = Runtime(settings)
    fake.__dict__["kb"] = runtime.kb
    assert fake.settings.llm_provider == "openai"
    return fake
