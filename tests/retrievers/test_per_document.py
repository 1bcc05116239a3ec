"""A top-k of documents, not of one document's sections: by default one chunk per document, so a
long article that matches everywhere cannot crowd the other answers out."""

from __future__ import annotations

from pathlib import Path

from copilot.crm.permissions import ACL_EVERYTHING
from knowledge_base.indexer import ingest_paths
from retrievers.hybrid import KnowledgeIndex
from tests.knowledge_base.helpers import make_index, write_doc


def build(tmp_path: Path) -> KnowledgeIndex:
    folder = tmp_path / "docs"
    filler = "按步骤逐项确认。" * 60  # long enough that every section is a chunk of its own
    sections = "".join(f"## 第{i}节\n冷柜 压缩机 过载 保护 第{i}步检查。{filler}\n" for i in range(8))
    write_doc(folder, "long-article", sections)
    for name in ("short-a", "short-b"):
        write_doc(folder, name, f"## 说明\n冷柜 压缩机 过载 {name}。")
    index = make_index(tmp_path / "data")
    assert ingest_paths(index, [folder], max_bytes=1_000_000).ok
    return index


def test_default_gives_one_chunk_per_document(tmp_path: Path) -> None:
    hits = build(tmp_path).search("冷柜 压缩机 过载 保护", ACL_EVERYTHING, k=5)
    doc_ids = [h.doc_id for h in hits]
    assert sorted(doc_ids) == ["long-article", "short-a", "short-b"]  # all three, each once


def test_no_limit_returns_sections_of_the_same_document(tmp_path: Path) -> None:
    hits = build(tmp_path).search("冷柜 压缩机 过载 保护", ACL_EVERYTHING, k=5, per_document=None)
    assert len(hits) == 5
    assert sum(h.doc_id == "long-article" for h in hits) >= 3


def test_limit_of_two_keeps_at_most_two_per_document(tmp_path: Path) -> None:
    hits = build(tmp_path).search("冷柜 压缩机 过载 保护", ACL_EVERYTHING, k=10, per_document=2)
    counts = {d: sum(h.doc_id == d for h in hits) for d in {h.doc_id for h in hits}}
    assert counts["long-article"] == 2 and max(counts.values()) == 2 and len(hits) == 4
