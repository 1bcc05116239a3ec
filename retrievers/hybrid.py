"""The knowledge index: Chroma (vectors) and BM25 (words) over the same live chunk set, searched as
one asker and fused with reciprocal rank fusion.

Permissions are part of both searches: the vector side asks only the ACL-group collections the asker
may read (see vector_store.py), the BM25 side masks rows of other groups before its top-k. So
``search(..., k)`` returns the top-k of what the asker may read — never "top-k, then drop".

Consistency: the manifest (one row per document, listing its chunk ids and ACL group) decides which
stored chunks are live. A chunk written by an ingest that never committed (crash) is an orphan: it
is never returned and the next writer sweeps it. Writers hold a lock (thread + file), so one ingest
at a time touches the store; readers never take it. Every write bumps a generation row in the
manifest; each search looks at it (one small read) and, when another process wrote, reopens the store
and reloads before answering (``refresh``), so ``crm-copilot kb ingest`` is seen by a running service
on its next search.
"""

from __future__ import annotations

import fcntl
import json
import math
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from copilot.core.bounds import query_text
from copilot.core.errors import Busy
from copilot.core.settings import Settings
from copilot.crm.permissions import AclScope, acl_scope
from copilot.crm.principal import Principal
from retrievers.embedding import Embedder, load_embedder
from retrievers.lexical import CJK_CHAR, BM25Index, tokenize
from retrievers.vector_store import LANG_SLOTS, VectorStore, group_key, lang_slot, make_client

GENERATION_ID = "__generation__"
ZH_SLOT = lang_slot("zh")  # the one language slot written in CJK script


@dataclass(frozen=True)
class SearchHit:
    doc_id: str
    chunk_id: str
    title: str
    text: str
    score: float
    heading: str = ""
    lang: str = ""
    products: tuple[str, ...] = ()
    visibility: str = ""
    source: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "doc_id": self.doc_id, "chunk_id": self.chunk_id, "title": self.title, "text": self.text,
            "score": round(self.score, 6), "heading": self.heading, "lang": self.lang,
            "products": list(self.products), "visibility": self.visibility, "source": self.source,
        }


@dataclass(frozen=True)
class FusionWeights:
    """RRF weights, fitted on eval/datasets/retrieval.yaml (python -m eval.retrieval).

    Latin-only questions lean on vectors: their words mostly occur in the *English* documents, so
    BM25 pulls those up even when the answer is a Chinese document; the multilingual model maps both
    languages to one space. BM25 keeps a small say there for exact codes (E-410, LC-3015). A small
    rrf_k lets a first place count (k=60 flattened the vector side's lead: en hit@5 0.47 vs 0.87).
    """

    vector: float = 1.0
    lexical: float = 1.0
    vector_latin: float = 1.0
    lexical_latin: float = 0.3
    rrf_k: int = 5
    # λ of the language-mean correction (vector_store.LANG_SLOTS); 1 = subtract the whole mean.
    language_centering: float = 1.0
    # λ for Latin-only questions. multilingual-e5's pull toward the question's own language is stronger
    # for English questions than for Chinese ones: with λ 1 the first English chunk still outranked the
    # Chinese answer (mixed-KB tuning set en→zh hit@1 0.14; 1.5: 0.43), and English questions on the demo
    # set, a third of which are answered by English documents, also gain (hit@1 0.53 → 0.84 at 1.5, the
    # middle of its plateau 1.4-1.6; 2.0 starts to pull English answers down).
    language_centering_latin: float = 1.5
    candidates: int = 40  # per side; more than k so fusion has overlap to work with
    # Language-balanced fusion (hybrid mode). BM25 can only match a question to documents in the
    # question's own language, so fusing its ranks across languages pulls a Chinese question to Chinese
    # documents on other topics when the answer is an English manual (and vice versa). Instead each
    # document language gets its own pool, fused by rank within that language; across languages the
    # k-th of each pool competes only with the k-th of the others, ordered by the language-centred
    # cosine (the one signal that compares a Chinese with an English chunk) plus
    # ``cross_language_lexical`` × that chunk's lexical credit. Measured on the mixed-KB set
    # (eval/datasets/retrieval_crosslingual.yaml, tuning questions): zh→en hit@5 0.92 → 1.00,
    # en→zh 0.71 → 0.86; the demo set keeps hit@5 1.00 in every language. False: the old global RRF.
    language_balanced: bool = True
    cross_language_lexical: float = 0.01
    # Exact-token evidence across languages (KnowledgeIndex._exact_evidence). A rare query token that is
    # written in another script than the question, or that occurs in a document of another script
    # ("mpuniq", "LC-3015", "DeviceCloud" inside Chinese text; "华为" inside an English manual), is a name or
    # a code: language-neutral evidence, unlike ordinary same-language words (which keep the 0.01 nudge
    # above). So is a chunk holding every word of a question whose words are all rare (a search for a name
    # or a code: the document language detector may call "正文 mpuniq。" English). A chunk whose such tokens
    # carry at least ``exact_min_coverage`` of the question's IDF mass is put first, whatever its language.
    # Rare: in at most ``exact_max_df`` of the visible chunks (3 %: an alarm code like E-101 sits in 6 of the
    # demo's 264 chunks; at 1 % "LC-3015 E-101" lost the E-101 article to English look-alikes, troubleshoot
    # cases 0.94 → 1.00 at 3 %). Ordinary questions never reach the share (eval.retrieval, demo and
    # mixed-KB sets: every metric unchanged).
    exact_min_coverage: float = 0.5
    exact_max_df: float = 0.03
    # Weight of the BM25 list for the glossary's other-language terms (KnowledgeIndex.glossary), if any.
    glossary: float = 0.5


@dataclass(frozen=True)
class StoredRecord:
    chunk_id: str
    doc_id: str
    group: str
    text: str
    metadata: Mapping[str, Any]


@dataclass
class _DocEntry:
    doc_hash: str
    group: str
    chunk_ids: tuple[str, ...]
    meta: dict[str, Any] = field(default_factory=dict)
    # Sum of the document's chunk vectors, for the per-language means (kept in the manifest row so a
    # restart need not read every vector back).
    vec_sum: np.ndarray | None = None

    @property
    def lang_slot(self) -> int:
        return lang_slot(str(self.meta.get("lang", "")))


def index_text(title: str, heading: str, text: str) -> str:
    """What both searches see for a chunk: title and heading path in front of the body."""
    head = f"{title} > {heading}" if heading else title
    return f"{head}\n{text}"


def _limit_per_document(
    ranked: list[str], records: Mapping[str, StoredRecord], per_document: int | None, k: int
) -> list[str]:
    """The first ``k`` live chunk ids of ``ranked``, keeping at most ``per_document`` of each document."""
    taken: Counter[str] = Counter()
    out: list[str] = []
    for cid in ranked:
        record = records.get(cid)
        if record is None:
            continue
        if per_document is not None and taken[record.doc_id] >= per_document:
            continue
        taken[record.doc_id] += 1
        out.append(cid)
        if len(out) == k:
            break
    return out


def is_latin_query(query: str) -> bool:
    return CJK_CHAR.search(query) is None


class KnowledgeIndex:
    max_query_chars = Settings.model_fields["max_query_chars"].default

    def __init__(
        self,
        store: VectorStore,
        embedder: Embedder,
        *,
        lock_path: Path | None = None,
        weights: FusionWeights | None = None,
        refresh_interval_s: float = 0.0,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.weights = weights or FusionWeights()
        self.lock_path = lock_path
        self.refresh_interval_s = refresh_interval_s
        # Optional: the query in the other language (retrievers.translate.QueryTranslator, when a model is
        # configured); its vector and BM25 lists join the language-balanced fusion. None: no translation.
        self.translator: Callable[[str], str | None] | None = None
        # Optional: other-language terms for the query (retrievers.glossary.Glossary.expand), searched as
        # one more BM25 list in the language-balanced fusion. None: no glossary.
        self.glossary: Callable[[str], str | None] | None = None
        # Guards the in-memory snapshot (docs, records, BM25) for the moment it is read or swapped.
        self._thread_lock = threading.RLock()
        # One writer of this process at a time (with the file lock: of this machine); readers never take it.
        self._write_lock = threading.RLock()
        self._refresh_lock = threading.Lock()
        self._load()

    @classmethod
    def open(cls, settings: Settings, *, embedding_model: str | None = None, namespace: str = "kb") -> KnowledgeIndex:
        embedder = load_embedder(embedding_model or settings.embedding_model)
        store = VectorStore(make_client(settings), embedder.name, embedder.dim, namespace=namespace)
        lock_dir = settings.resolved_chroma_path if not settings.chroma_host else settings.data_dir
        lock_dir.mkdir(parents=True, exist_ok=True)
        index = cls(store, embedder, lock_path=lock_dir / f"{store.prefix}.write.lock")
        index.max_query_chars = settings.max_query_chars
        return index

    # --- loading --------------------------------------------------------------------------------

    @staticmethod
    def _entries(manifest: Mapping[str, dict[str, Any]]) -> tuple[dict[str, _DocEntry], str]:
        docs: dict[str, _DocEntry] = {}
        generation = ""
        for doc_id, meta in manifest.items():
            if doc_id == GENERATION_ID:
                generation = str(meta.get("value", ""))
                continue
            raw_sum = meta.get("vec_sum")
            docs[doc_id] = _DocEntry(
                str(meta.get("doc_hash", "")), str(meta.get("group", "")),
                tuple(json.loads(str(meta.get("chunk_ids", "[]")))), meta,
                np.asarray(json.loads(str(raw_sum)), dtype=np.float32) if raw_sum else None,
            )
        return docs, generation

    def _load(self) -> None:
        docs, generation = self._entries(self.store.documents())
        live_keys = {(entry.group, cid) for entry in docs.values() for cid in entry.chunk_ids}
        records: dict[str, StoredRecord] = {}
        orphans: list[tuple[str, str]] = []
        for stored in self.store.iter_chunks():
            if (stored.group, stored.chunk_id) in live_keys:
                records[stored.chunk_id] = StoredRecord(
                    stored.chunk_id, str(stored.metadata.get("doc_id", "")), stored.group, stored.text,
                    stored.metadata,
                )
            else:
                orphans.append((stored.group, stored.chunk_id))
        bm25 = BM25Index()
        group_ids = {key: i for i, key in enumerate(self.store.groups)}
        for record in records.values():
            m = record.metadata
            bm25.add(record.chunk_id, index_text(str(m.get("title", "")), str(m.get("heading", "")), record.text),
                     group_ids[record.group])
        with self._thread_lock:
            self.docs, self.records, self.bm25, self.group_ids = docs, records, bm25, group_ids
            self._sums: dict[tuple[str, int], tuple[np.ndarray, int]] | None = None
            self.orphans = orphans
            self._orphans_per_group = Counter(g for g, _ in orphans)
            self.generation = generation
            self._checked_at = time.monotonic()

    def _reload(self) -> None:
        """After another process wrote: the manifest again, and only the chunks of documents whose entry
        changed (2,200 chunks: 0.2 s instead of a 2.3 s full load, most of which is tokenising for BM25).
        The other documents' records and BM25 rows stay; removed rows are tombstones until a full load."""
        docs, generation = self._entries(self.store.documents())
        old = self.docs
        changed = [d for d, e in docs.items() if not _same_entry(old.get(d), e)]
        gone = [d for d in old if d not in docs]
        if len(changed) + len(gone) > max(50, len(docs) // 2):  # most of it changed: load it all
            self._load()
            return
        wanted: dict[str, list[str]] = {}
        for doc_id in changed:
            wanted.setdefault(docs[doc_id].group, []).extend(docs[doc_id].chunk_ids)
        fetched = [c for key, ids in wanted.items() for c in self.store.chunks_by_ids(key, ids)]
        with self._thread_lock:  # BM25 rows change in place: one mutator at a time (put_document too)
            records = dict(self.records)
            for doc_id in (*changed, *gone):
                if doc_id in old:
                    self.bm25.remove(old[doc_id].chunk_ids)
                    for cid in old[doc_id].chunk_ids:
                        records.pop(cid, None)
            for key in wanted:
                self.group_ids.setdefault(key, len(self.group_ids))
            for stored in fetched:
                m = stored.metadata
                records[stored.chunk_id] = StoredRecord(stored.chunk_id, str(m.get("doc_id", "")), stored.group,
                                                        stored.text, m)
                self.bm25.add(stored.chunk_id, index_text(str(m.get("title", "")), str(m.get("heading", "")),
                                                          stored.text), self.group_ids[stored.group])
            self.docs, self.records, self.generation = docs, records, generation
            self._sums = None

    def refresh(self, force: bool = False) -> None:
        """See another process's writes: one look at the generation row (every search unless
        ``refresh_interval_s`` throttles it); when it changed, reopen the store (the embedded Chroma
        client never sees another process's vectors otherwise, vector_store.fresh_client) and reload
        the manifest and BM25. One thread reloads; searches meanwhile answer from the snapshot they
        have. ``force``: look now and wait for a reload in progress (a writer starts from the truth).
        """
        if not force and time.monotonic() - self._checked_at < self.refresh_interval_s:
            return
        if not self._refresh_lock.acquire(blocking=force):
            return
        try:
            self._checked_at = time.monotonic()
            row = self.store.documents_by_ids([GENERATION_ID]).get(GENERATION_ID, {})
            if str(row.get("value", "")) != self.generation:
                self.store.reopen()
                self._reload()
        finally:
            self._refresh_lock.release()

    # --- reading ----------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.records)

    def document_ids(self) -> list[str]:
        return sorted(self.docs)

    def search_as(
        self, principal: Principal, query: str, k: int = 5, *, per_document: int | None = 1
    ) -> list[SearchHit]:
        return self.search(query, acl_scope(principal), k, per_document=per_document)

    def search(
        self,
        query: str,
        scope: AclScope,
        k: int = 5,
        *,
        mode: str = "hybrid",
        per_document: int | None = 1,
    ) -> list[SearchHit]:
        """Top-k chunks a reader with ``scope`` may read (copilot.crm.permissions.acl_scope builds it).

        ``mode``: ``hybrid`` (default), ``vector`` or ``lexical`` — the last two for evaluation.
        ``per_document``: at most this many chunks of one document (None: no limit). One by default:
        five sections of one article would otherwise crowd the other four answers out of a top 5
        (English questions over Chinese articles: hit@5 0.79 → 1.00 on the demo set).
        """
        if not isinstance(scope, AclScope):  # None once meant "no filter": refuse anything not chosen
            raise TypeError(f"search needs an AclScope (copilot.crm.permissions.acl_scope), not {scope!r}")
        # A long message is matched by its bounded head and tail (copilot.core.bounds.query_text): cost, not meaning.
        query = query_text(query, self.max_query_chars)
        if not query or k <= 0:
            return []
        # The model call (if any) happens before any lock is taken; None when off, offline or degraded.
        translated = self.translator(query) if self.translator is not None and mode == "hybrid" else None
        self.refresh()
        with self._thread_lock:
            groups = self.store.visible_groups(scope)
            if not groups:
                return []
            allowed = [self.group_ids[g.key] for g in groups if g.key in self.group_ids]
            records, bm25 = self.records, self.bm25
            extra = sum(self._orphans_per_group[g.key] for g in groups)
            visible_keys = {g.key for g in groups}
            lang_sums = [self._lang_sum(visible_keys, slot) for slot in range(len(LANG_SLOTS))]
        w = self.weights
        n = max(w.candidates, k)
        vector_ranked: list[str] = []
        vector_scores: dict[str, float] = {}
        lexical_ranked: list[str] = []

        def vector_side(text: str) -> tuple[list[str], dict[str, float]]:
            qv = self.embedder.embed_query(text)
            centering = w.language_centering_latin if is_latin_query(text) else w.language_centering
            # Means over what this asker may read only: no score depends on a hidden document.
            offsets = [-centering * float(qv @ (total / count)) if count else 0.0 for total, count in lang_sums]
            hits = self.store.query(qv, groups, n + extra, offsets)
            # Orphans (an ingest that crashed before committing) are never results.
            live = [(cid, score) for cid, score, _, _ in hits if cid in records]
            return [cid for cid, _ in live][:n], dict(live)

        if mode in ("hybrid", "vector"):
            vector_ranked, vector_scores = vector_side(query)
        if mode in ("hybrid", "lexical"):
            lexical_ranked = [cid for cid, _ in bm25.search(query, allowed, n)]
        latin = is_latin_query(query)
        wv = w.vector_latin if latin else w.vector
        wl = w.lexical_latin if latin else w.lexical
        if w.language_balanced and mode == "hybrid" and vector_ranked:
            sides: list[tuple[float, list[str], bool]] = [(wv, vector_ranked, False), (wl, lexical_ranked, True)]
            expanded = self.glossary(query) if self.glossary is not None and w.glossary > 0 else None
            if expanded:
                sides.append((w.glossary, [cid for cid, _ in bm25.search(expanded, allowed, n)], True))
            if translated:
                t_latin = is_latin_query(translated)
                t_ranked, t_scores = vector_side(translated)
                for cid, score in t_scores.items():  # across languages: the better of the two cosines
                    vector_scores[cid] = max(score, vector_scores.get(cid, score))
                sides += [
                    (w.vector_latin if t_latin else w.vector, t_ranked, False),
                    (w.lexical_latin if t_latin else w.lexical,
                     [cid for cid, _ in bm25.search(translated, allowed, n)], True),
                ]
            exact = self._exact_evidence(query, bm25, allowed, records)
            return self._balanced(sides, vector_scores, records, per_document, k, exact)
        fused: dict[str, float] = {}
        for weight, ranked in ((wv, vector_ranked), (wl, lexical_ranked)):
            for rank, cid in enumerate(ranked):
                fused[cid] = fused.get(cid, 0.0) + weight / (w.rrf_k + rank + 1)
        # Scale so a chunk ranked first by every active side scores 1.0.
        best = sum(weight for weight, ranked in ((wv, vector_ranked), (wl, lexical_ranked)) if ranked) / (w.rrf_k + 1)
        order = _limit_per_document(sorted(fused, key=lambda cid: (-fused[cid], cid)), records, per_document, k)
        return [self._hit(records[cid], fused[cid] / best if best else 0.0) for cid in order]

    def _balanced(
        self,
        sides: Sequence[tuple[float, list[str], bool]],
        vector_scores: Mapping[str, float],
        records: Mapping[str, StoredRecord],
        per_document: int | None,
        k: int,
        exact: Mapping[str, float] | None = None,
    ) -> list[SearchHit]:
        """Language-balanced fusion (see FusionWeights.language_balanced). ``sides``: (weight, ranked chunk
        ids, is_lexical) — the query's vector and BM25 lists, and the translated query's when there is one."""
        w = self.weights

        def slot(cid: str) -> int:
            return lang_slot(str(records[cid].metadata.get("lang", "")))

        fused: dict[str, float] = {}
        lexical_credit: dict[str, float] = {}  # weight x (1.0 for the first of its language), best side
        for weight, ranked, is_lexical in sides:
            seen: Counter[int] = Counter()
            for cid in ranked:
                language = slot(cid)
                rank = seen[language]
                seen[language] += 1
                fused[cid] = fused.get(cid, 0.0) + weight / (w.rrf_k + rank + 1)
                if is_lexical:
                    credit = weight * (w.rrf_k + 1) / (w.rrf_k + rank + 1)
                    lexical_credit[cid] = max(credit, lexical_credit.get(cid, 0.0))
        pools: dict[int, list[str]] = {}
        for cid in fused:
            pools.setdefault(slot(cid), []).append(cid)
        exact = exact or {}
        for cid in exact:  # an exact-token chunk neither side ranked still competes
            if cid in records and cid not in fused:
                fused[cid] = 0.0
                pools.setdefault(slot(cid), []).append(cid)
        key: dict[str, tuple[int, float, float, str]] = {}
        for pool in pools.values():
            pool.sort(key=lambda cid: (-fused[cid], cid))
            for rank, cid in enumerate(pool):
                # A chunk only BM25 found has no cosine here: it sorts after its rank peers that have one.
                across = vector_scores.get(cid, -1.0) + w.cross_language_lexical * lexical_credit.get(cid, 0.0)
                coverage = exact.get(cid, 0.0)
                if coverage >= w.exact_min_coverage:  # names and codes first, in any language
                    key[cid] = (-1, -coverage, -across, cid)
                else:
                    key[cid] = (rank, 0.0, -across, cid)
        order = _limit_per_document(sorted(key, key=key.__getitem__), records, per_document, k)
        # Scores: the within-language fusion score (1.0 = first for both sides), never rising down the list.
        best = sum(weight for weight, ranked, _ in sides if ranked) / (w.rrf_k + 1) or 1.0
        hits: list[SearchHit] = []
        ceiling = 1.0
        for cid in order:
            ceiling = min(ceiling, max(fused[cid] / best, exact.get(cid, 0.0)))
            hits.append(self._hit(records[cid], ceiling))
        return hits

    def _exact_evidence(
        self, query: str, bm25: BM25Index, allowed: Sequence[int], records: Mapping[str, StoredRecord]
    ) -> dict[str, float]:
        """Chunk id -> share of the question's IDF mass carried by its language-neutral exact tokens
        (see FusionWeights.exact_min_coverage); only chunks with some such token appear."""
        terms = set(tokenize(query))
        if not terms:
            return {}
        n_visible, counts, found = bm25.chunks_with(terms, allowed, max_df=self.weights.exact_max_df)
        if not n_visible:
            return {}
        query_cjk = not is_latin_query(query)
        idf = {t: math.log(1 + (n_visible - c + 0.5) / (c + 0.5)) for t, c in counts.items() if c}
        total = sum(idf.get(t, math.log(1 + (n_visible + 0.5) / 0.5)) for t in terms)  # unseen words count too
        rare = max(1.0, self.weights.exact_max_df * n_visible)
        evidence: dict[str, float] = {}
        rare_ids = {t: set(ids) for t, ids in found.items() if ids and len(ids) <= rare}
        if len(rare_ids) == len(terms):  # every word of the question is rare: a name/code search
            for cid in set.intersection(*rare_ids.values()):
                evidence[cid] = 1.0  # it holds them all: exact whatever the script
        for term, ids in found.items():
            if term not in rare_ids:
                continue
            term_cjk = CJK_CHAR.search(term) is not None
            # Written in another script than the question, or found in a chunk of another script: a name.
            neutral = term_cjk != query_cjk or any(
                (lang_slot(str(records[c].metadata.get("lang", ""))) == ZH_SLOT) != term_cjk
                for c in ids if c in records
            )
            if neutral:
                for cid in ids:
                    if evidence.get(cid) != 1.0:
                        evidence[cid] = evidence.get(cid, 0.0) + idf[term] / total
        return evidence

    def _lang_sum(self, group_keys: set[str], slot: int) -> tuple[np.ndarray, int]:
        if self._sums is None:  # per (group, language): rebuilt after a write, not per search
            sums: dict[tuple[str, int], tuple[np.ndarray, int]] = {}
            for entry in self.docs.values():
                if entry.vec_sum is None:
                    continue
                total, count = sums.get((entry.group, entry.lang_slot), (0, 0))
                sums[(entry.group, entry.lang_slot)] = (entry.vec_sum + total, count + len(entry.chunk_ids))
            self._sums = sums
        total_all = np.zeros(self.embedder.dim, dtype=np.float32)
        count_all = 0
        for key in group_keys:
            total, count = self._sums.get((key, slot), (0, 0))
            total_all += total
            count_all += count
        return total_all, count_all

    @staticmethod
    def _hit(record: StoredRecord, score: float) -> SearchHit:
        m = record.metadata
        products = tuple(p for p in str(m.get("products", "")).split(",") if p)
        return SearchHit(
            doc_id=record.doc_id, chunk_id=record.chunk_id, title=str(m.get("title", "")), text=record.text,
            score=score, heading=str(m.get("heading", "")), lang=str(m.get("lang", "")), products=products,
            visibility=str(m.get("visibility", "")), source=str(m.get("source", "")),
        )

    # --- writing (callers: knowledge_base.indexer) -------------------------------------------------

    @contextmanager
    def writing(self, wait_s: float | None = None) -> Iterator[None]:
        """One writer at a time: threads of this process, and other processes on this machine.

        Searches never wait for it. ``wait_s`` bounds the wait for the lock (None: as long as it
        takes, as the CLI does); past it ``Busy`` (the API's 503 with Retry-After).
        """
        deadline = None if wait_s is None else time.monotonic() + wait_s
        if not self._write_lock.acquire(timeout=-1 if wait_s is None else wait_s):
            raise _busy(wait_s)
        try:
            if self.lock_path is None:
                yield
                return
            with open(self.lock_path, "a+") as handle:
                _flock(handle, deadline, wait_s)
                try:
                    # Another process may have written since we loaded: start from the truth.
                    self.refresh(force=True)
                    self._sweep_orphans()
                    yield
                finally:
                    fcntl.flock(handle, fcntl.LOCK_UN)
        finally:
            self._write_lock.release()

    def _sweep_orphans(self) -> None:
        by_group: dict[str, list[str]] = {}
        for group, cid in self.orphans:
            by_group.setdefault(group, []).append(cid)
        for group, ids in by_group.items():
            self.store.delete(group, ids)
        self.orphans = []
        self._orphans_per_group = Counter()

    def document_hash(self, doc_id: str) -> str | None:
        entry = self.docs.get(doc_id)
        return entry.doc_hash if entry else None

    def document_meta(self, doc_id: str) -> Mapping[str, Any] | None:
        entry = self.docs.get(doc_id)
        return entry.meta if entry else None

    def put_document(
        self,
        doc_id: str,
        doc_hash: str,
        acl_tokens: frozenset[str],
        chunk_ids: Sequence[str],
        texts: Sequence[str],
        embed_texts: Sequence[str],
        metadatas: Sequence[Mapping[str, Any]],
        doc_meta: Mapping[str, Any],
    ) -> int:
        """Replace one document's chunks. Returns how many texts were sent to the embedding model.

        Order makes it crash-safe: (1) write the new chunks, (2) commit the manifest row, (3) delete
        the old chunks. A crash before (2) leaves orphans of the new version; after it, orphans of
        the old one. Either way the manifest names exactly one complete version.
        """
        key = group_key(acl_tokens)
        old = self.docs.get(doc_id)
        # Reuse the stored vectors of the old version's chunks whose embedded text is unchanged, so
        # editing one paragraph (or only the ACL) re-embeds one chunk, not the document.
        vectors = np.empty((len(chunk_ids), self.embedder.dim), dtype=np.float32)
        todo = list(range(len(chunk_ids)))
        if old is not None:
            old_by_text: dict[str, str] = {}
            for cid in old.chunk_ids:
                rec = self.records.get(cid)
                if rec is not None:
                    m = rec.metadata
                    old_by_text[index_text(str(m.get("title", "")), str(m.get("heading", "")), rec.text)] = cid
            wanted = {i: old_by_text[t] for i, t in enumerate(embed_texts) if t in old_by_text}
            stored = self.store.vectors_for(old.group, list(set(wanted.values())))
            for i, cid in wanted.items():
                if cid in stored:
                    vectors[i] = stored[cid]
            todo = [i for i in todo if wanted.get(i) not in stored]
        if todo:
            vectors[todo] = self.embedder.embed_passages([embed_texts[i] for i in todo])
        self.store.upsert(acl_tokens, chunk_ids, vectors, texts, metadatas)
        vec_sum = vectors.sum(axis=0)
        entry_meta = {
            **doc_meta, "doc_hash": doc_hash, "group": key, "chunk_ids": json.dumps(list(chunk_ids)),
            "vec_sum": json.dumps([round(float(x), 6) for x in vec_sum]),
        }
        self.store.put_document(doc_id, entry_meta)
        if old is not None:
            keep = set(chunk_ids) if old.group == key else set()
            stale = [c for c in old.chunk_ids if c not in keep]
            self.store.delete(old.group, stale)
        self._bump_generation()
        # Keep this process's view current without a full reload (the snapshot lock only for this).
        with self._thread_lock:
            if key not in self.group_ids:
                self.group_ids[key] = len(self.group_ids)
            if old is not None:
                self._forget(old)
            self.docs[doc_id] = _DocEntry(doc_hash, key, tuple(chunk_ids), entry_meta, vec_sum)
            self._sums = None
            for cid, text, meta in zip(chunk_ids, texts, metadatas, strict=True):
                self.records[cid] = StoredRecord(cid, doc_id, key, text, meta)
                self.bm25.add(cid, index_text(str(meta.get("title", "")), str(meta.get("heading", "")), text),
                              self.group_ids[key])
        return len(todo)

    def delete_document(self, doc_id: str) -> bool:
        old = self.docs.get(doc_id)
        if old is None:
            return False
        # Manifest first: once it is gone the chunks are orphans, invisible even if we crash now.
        self.store.delete_document(doc_id)
        self.store.delete(old.group, list(old.chunk_ids))
        self._bump_generation()
        with self._thread_lock:
            self._forget(old)
            del self.docs[doc_id]
            self._sums = None
        return True

    def _forget(self, entry: _DocEntry) -> None:
        self.bm25.remove(entry.chunk_ids)
        for cid in entry.chunk_ids:
            self.records.pop(cid, None)

    def _bump_generation(self) -> None:
        self.generation = uuid.uuid4().hex
        self.store.put_document(GENERATION_ID, {"value": self.generation})

    def close(self) -> None:
        self.store.close()


def _same_entry(a: _DocEntry | None, b: _DocEntry) -> bool:
    return a is not None and (a.doc_hash, a.group, a.chunk_ids) == (b.doc_hash, b.group, b.chunk_ids)


def _busy(wait_s: float | None) -> Busy:
    waited = wait_s or 0.0
    return Busy(f"another ingest is writing to the knowledge base (waited {waited:g} s); searches still work, "
                "retry the upload shortly", code="kb_busy", retry_after=max(1, round(waited)))


def _flock(handle: Any, deadline: float | None, wait_s: float | None) -> None:
    """The machine-wide writer lock: blocking without a deadline, else polled until it."""
    if deadline is None:
        fcntl.flock(handle, fcntl.LOCK_EX)
        return
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise _busy(wait_s) from None
            time.sleep(0.05)
