"""The Chroma adapter: one collection per ACL group, plus one small collection of documents.

Why partition by ACL group instead of a metadata ``where``: a filtered HNSW query in Chroma is ~40×
slower than an unfiltered one at 100k rows (environment.md; bench/retrieval.py re-measures it). The
distinct ACL token sets of a knowledge base are few (public, internal, one per restricted audience),
so each set gets its own collection; a search asks, unfiltered, only the collections whose tokens
intersect the asker's and merges by distance. Permission filtering is therefore part of the query
plan itself: an invisible chunk is never a candidate.

The ``*-docs`` collection is the manifest (one row per document: content hash, ACL group, chunk
ids). Writing a document's manifest row is the commit point of its ingest; see
knowledge_base/indexer.py for the protocol and ``live_chunk_ids`` for recovery after a crash.

We always pass our own vectors: a Chroma collection without them would try to download a model.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import chromadb
import numpy as np
from chromadb.config import Settings as ChromaSettings

from copilot.core.errors import ConfigError
from copilot.core.settings import Settings
from copilot.crm.permissions import AclScope, acl_match

PAGE = 2000  # rows per get() page when reloading a collection
# Stored vectors get one extra dimension per document language (one-hot). A query sets those
# dimensions to -λ·(query · mean vector of that language), which subtracts each language's mean
# direction inside the HNSW search itself: multilingual-e5 otherwise ranks English chunks above the
# right Chinese one for an English question (hit@5 0.40 → 0.89 on the demo set, vector side alone).
LANG_SLOTS = ("zh", "en", "other")
LAYOUT_VERSION = "2"


def lang_slot(lang: str) -> int:
    return LANG_SLOTS.index(lang) if lang in LANG_SLOTS[:-1] else len(LANG_SLOTS) - 1


def augment(vectors: np.ndarray, langs: Sequence[str]) -> np.ndarray:
    extra = np.zeros((len(vectors), len(LANG_SLOTS)), dtype=np.float32)
    for i, lang in enumerate(langs):
        extra[i, lang_slot(lang)] = 1.0
    return np.hstack([np.asarray(vectors, dtype=np.float32), extra])


def make_client(settings: Settings) -> Any:
    """A Chroma server when ``chroma_host`` is set, else an embedded store under the data dir."""
    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if settings.chroma_host:
        try:
            return chromadb.HttpClient(host=settings.chroma_host, port=settings.chroma_port, settings=chroma_settings)
        except Exception as exc:  # the client pings the server on creation
            raise ConfigError(
                f"cannot reach Chroma at {settings.chroma_host}:{settings.chroma_port}: {exc}"
            ) from exc
    path = settings.resolved_chroma_path
    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=chroma_settings)


def fresh_client(client: Any) -> Any:
    """A client that sees what other processes wrote to the same embedded store since ``client`` opened.

    Chroma's embedded client shares one ``System`` per path per process, and its segment readers load a
    collection's HNSW index once and never look at the disk again: a service process would never find
    the vectors that ``crm-copilot kb ingest`` (another process) added, however often it re-read the
    manifest (issue 10: 0 of 30 new documents found until a restart). A new System replays the store
    from disk. We detach the cached one from Chroma's per-path registry (private, so a test pins the
    behaviour: tests/knowledge_base/test_freshness.py); whoever still holds the old client or its
    collections — a search in flight — keeps a working object, and it is freed when they let go.
    A Chroma server (HttpClient) is already the one source of truth: the same client is returned.
    """
    settings = client.get_settings()
    if not settings.is_persistent or not settings.persist_directory:
        return client
    from chromadb.api.shared_system_client import SharedSystemClient

    SharedSystemClient._identifier_to_system.pop(settings.persist_directory, None)
    return chromadb.PersistentClient(
        path=settings.persist_directory, settings=ChromaSettings(anonymized_telemetry=False)
    )


def group_key(tokens: frozenset[str]) -> str:
    """A stable name for a set of ACL tokens (order-free)."""
    return json.dumps(sorted(tokens), ensure_ascii=False)


def _slug(name: str) -> str:
    """A collection-name-safe tag for the embedding model, so two models never share vectors."""
    clean = re.sub(r"[^a-zA-Z0-9]+", "-", name).strip("-").lower()[:24] or "model"
    return f"{clean}-{hashlib.sha1(name.encode()).hexdigest()[:6]}"


@dataclass(frozen=True)
class Group:
    key: str
    tokens: frozenset[str]
    collection: Any


@dataclass(frozen=True)
class StoredChunk:
    chunk_id: str
    text: str
    metadata: Mapping[str, Any]
    group: str


class VectorStore:
    def __init__(self, client: Any, embedder_name: str, dim: int, namespace: str = "kb") -> None:
        self.dim = dim
        # The layout version is part of every name: a store written by an older layout (other vector
        # shape) is simply not seen, and the next ingest rebuilds from the files.
        self.prefix = f"{namespace}{LAYOUT_VERSION}-{_slug(embedder_name)}"
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="kb-query")
        self._bind(client)

    def _bind(self, client: Any) -> None:
        # Built aside, assigned at once: a search in flight keeps the groups it already took.
        docs = client.get_or_create_collection(
            f"{self.prefix}-docs", embedding_function=None, metadata={"kind": "manifest"}
        )
        groups = self._list_groups(client)
        # Chroma's count() is a round trip (~2 ms); cache it, invalidated by our own writes.
        counts: dict[str, int] = {}
        self.client, self._docs, self.groups, self._counts = client, docs, groups, counts

    def reopen(self) -> None:
        """See another process's writes (vectors included): a fresh embedded client (fresh_client),
        or, against a Chroma server, the collections listed again."""
        client = fresh_client(self.client)
        if client is self.client:
            self.reload_groups()
        else:
            self._bind(client)

    def reload_groups(self) -> None:
        """Find the ACL-group collections (another process may have created some)."""
        for key, group in self._list_groups(self.client).items():
            self.groups.setdefault(key, group)
        self._counts.clear()

    def _list_groups(self, client: Any) -> dict[str, Group]:
        dim = self.dim
        groups: dict[str, Group] = {}
        for collection in client.list_collections():
            meta = collection.metadata or {}
            if collection.name.startswith(f"{self.prefix}-g-") and meta.get("kind") == "chunks":
                tokens = frozenset(json.loads(meta["acl"]))
                if int(meta.get("dim", dim)) != dim:
                    raise ConfigError(f"collection {collection.name} holds {meta.get('dim')}-d vectors, not {dim}")
                groups[group_key(tokens)] = Group(group_key(tokens), tokens, collection)
        return groups

    # --- groups -------------------------------------------------------------------------------

    def group_for(self, tokens: frozenset[str]) -> Group:
        key = group_key(tokens)
        group = self.groups.get(key)
        if group is None:
            name = f"{self.prefix}-g-{hashlib.sha1(key.encode()).hexdigest()[:12]}"
            collection = self.client.get_or_create_collection(
                name,
                embedding_function=None,
                configuration={"hnsw": {"space": "ip"}},
                metadata={"kind": "chunks", "acl": key, "dim": self.dim, "lang_slots": ",".join(LANG_SLOTS)},
            )
            group = self.groups[key] = Group(key, tokens, collection)
        return group

    def visible_groups(self, scope: AclScope) -> list[Group]:
        """The groups a reader with ``scope`` may read, by the policy's one ACL rule (acl_match)."""
        if not isinstance(scope, AclScope):
            raise TypeError(f"visible_groups needs an AclScope (copilot.crm.permissions), not {scope!r}")
        return [g for g in self.groups.values() if acl_match(scope, g.tokens)]

    # --- chunks -------------------------------------------------------------------------------

    def upsert(
        self,
        tokens: frozenset[str],
        ids: Sequence[str],
        vectors: np.ndarray,
        texts: Sequence[str],
        metadatas: Sequence[Mapping[str, Any]],
    ) -> None:
        if not ids:
            return
        group = self.group_for(tokens)
        self._counts.pop(group.key, None)
        langs = [str(m.get("lang", "")) for m in metadatas]
        group.collection.upsert(
            ids=list(ids), embeddings=augment(vectors, langs), documents=list(texts),
            metadatas=[dict(m) for m in metadatas],
        )

    def delete(self, key: str, ids: Sequence[str]) -> None:
        group = self.groups.get(key)
        if group is not None and ids:
            self._counts.pop(key, None)
            group.collection.delete(ids=list(ids))

    def vectors_for(self, key: str, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """Stored vectors of chunks that already exist: unchanged chunks are never re-embedded."""
        group = self.groups.get(key)
        if group is None or not ids:
            return {}
        got = group.collection.get(ids=list(ids), include=["embeddings"])
        embeddings = got.get("embeddings")
        if embeddings is None:
            return {}
        return {i: np.asarray(e, dtype=np.float32)[: self.dim] for i, e in zip(got["ids"], embeddings, strict=True)}

    def chunks_by_ids(self, key: str, ids: Sequence[str]) -> list[StoredChunk]:
        """Text and metadata of these chunks of one group (those that exist)."""
        group = self.groups.get(key)
        out: list[StoredChunk] = []
        if group is None:
            return out
        for start in range(0, len(ids), PAGE):
            got = group.collection.get(ids=list(ids[start : start + PAGE]), include=["documents", "metadatas"])
            out += [StoredChunk(i, t or "", m or {}, key)
                    for i, t, m in zip(got["ids"], got["documents"], got["metadatas"], strict=True)]
        return out

    def iter_chunks(self) -> Iterator[StoredChunk]:
        for group in list(self.groups.values()):
            offset = 0
            while True:
                got = group.collection.get(include=["documents", "metadatas"], limit=PAGE, offset=offset)
                for chunk_id, text, meta in zip(got["ids"], got["documents"], got["metadatas"], strict=True):
                    yield StoredChunk(chunk_id, text or "", meta or {}, group.key)
                if len(got["ids"]) < PAGE:
                    break
                offset += PAGE

    def query(
        self, vector: np.ndarray, groups: Sequence[Group], n: int, lang_offsets: Sequence[float] | None = None
    ) -> list[tuple[str, float, Mapping[str, Any], str]]:
        """Nearest chunks over the given groups: (id, score, metadata, text), best first.

        ``lang_offsets`` (one per LANG_SLOTS entry) is added to the score of chunks in that language.
        """
        offsets = np.zeros(len(LANG_SLOTS), dtype=np.float32) if lang_offsets is None else lang_offsets
        vector = np.concatenate([np.asarray(vector, dtype=np.float32), np.asarray(offsets, dtype=np.float32)])

        def one(group: Group) -> list[tuple[str, float, Mapping[str, Any], str]]:
            count = self._counts.get(group.key)
            if count is None:
                count = self._counts[group.key] = group.collection.count()
            if not count:
                return []
            got = group.collection.query(
                query_embeddings=[vector], n_results=min(n, count), include=["distances", "metadatas", "documents"]
            )
            # "ip" space: distance = 1 - dot, so 1 - distance is cosine + language offset.
            return [
                (i, 1.0 - float(d), m or {}, t or "")
                for i, d, m, t in zip(
                    got["ids"][0], got["distances"][0], got["metadatas"][0], got["documents"][0], strict=True
                )
            ]

        # Groups are queried in parallel: Chroma's engine releases the GIL.
        merged = one(groups[0]) if len(groups) == 1 else [h for part in self._pool.map(one, groups) for h in part]
        merged.sort(key=lambda hit: -hit[1])
        return merged[:n]

    # --- manifest -----------------------------------------------------------------------------

    def documents(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        offset = 0
        while True:
            got = self._docs.get(include=["metadatas"], limit=PAGE, offset=offset)
            for doc_id, meta in zip(got["ids"], got["metadatas"], strict=True):
                out[doc_id] = dict(meta or {})
            if len(got["ids"]) < PAGE:
                return out
            offset += PAGE

    def documents_by_ids(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        got = self._docs.get(ids=list(ids), include=["metadatas"])
        return {i: dict(m or {}) for i, m in zip(got["ids"], got["metadatas"], strict=True)}

    def put_document(self, doc_id: str, metadata: Mapping[str, Any]) -> None:
        # The manifest needs no similarity search; a 1-d placeholder vector keeps Chroma from
        # reaching for its default embedding model.
        self._docs.upsert(ids=[doc_id], embeddings=[[0.0]], metadatas=[dict(metadata)], documents=[""])

    def delete_document(self, doc_id: str) -> None:
        self._docs.delete(ids=[doc_id])

    def close(self) -> None:
        self._pool.shutdown(wait=False)
