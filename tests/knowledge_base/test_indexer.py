"""Ingest is idempotent, replaces changed documents, syncs folders with --prune, and reports broken
files without writing anything of them."""

from __future__ import annotations

from pathlib import Path

from copilot.crm.permissions import ACL_EVERYTHING
from knowledge_base.indexer import delete_document, ingest_paths, ingest_upload
from tests.knowledge_base.helpers import FakeEmbedder, make_index, write_doc

LIMIT = 1_000_000


def all_chunk_ids(index) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted(c.chunk_id for c in index.store.iter_chunks())


def test_reingest_unchanged_costs_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    for i in range(3):
        write_doc(folder, f"doc-{i}", f"## 内容\n第{i}号文档讲冷柜保养。")
    embedder = FakeEmbedder()
    index = make_index(tmp_path / "data", embedder)
    first = ingest_paths(index, [folder], max_bytes=LIMIT)
    assert sorted(first.added) == ["doc-0", "doc-1", "doc-2"] and first.ok
    calls, ids = embedder.calls, all_chunk_ids(index)
    again = ingest_paths(make_index(tmp_path / "data", embedder), [folder], max_bytes=LIMIT)
    assert sorted(again.unchanged) == ["doc-0", "doc-1", "doc-2"]
    assert embedder.calls == calls  # no embedding call at all
    assert all_chunk_ids(index) == ids


def test_changed_file_replaces_its_chunks(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    path = write_doc(folder, "fridge", "## 一\n旧的说明：每周清洁。\n## 二\n" + "不变的段落。" * 100)
    embedder = FakeEmbedder()
    index = make_index(tmp_path / "data", embedder)
    ingest_paths(index, [folder], max_bytes=LIMIT)
    before = embedder.calls
    path.write_text(path.read_text(encoding="utf-8").replace("旧的说明：每周清洁", "新的说明：每月清洁"), "utf-8")
    report = ingest_paths(index, [folder], max_bytes=LIMIT)
    assert report.updated == ["fridge"]
    assert embedder.calls - before == 1  # only the edited chunk was embedded again
    texts = " ".join(h.text for h in index.search("清洁", ACL_EVERYTHING, 50, per_document=None))
    assert "新的说明" in texts and "旧的说明" not in texts
    reopened = make_index(tmp_path / "data", embedder)
    assert sorted(reopened.records) == all_chunk_ids(reopened)  # nothing stale left in Chroma


def test_prune_removes_documents_whose_file_is_gone(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    write_doc(folder, "keep", "保留的文档。")
    gone = write_doc(folder, "gone", "将被删除的文档。")
    index = make_index(tmp_path / "data")
    ingest_paths(index, [folder], max_bytes=LIMIT)
    gone.unlink()
    assert ingest_paths(index, [folder], max_bytes=LIMIT).removed == []  # additive by default
    assert "gone" in index.document_ids()
    report = ingest_paths(index, [folder], max_bytes=LIMIT, prune=True)
    assert report.removed == ["gone"]
    assert index.document_ids() == ["keep"]
    assert not [h for h in index.search("删除 文档", ACL_EVERYTHING, 50) if h.doc_id == "gone"]


def test_broken_files_are_reported_and_the_rest_goes_in(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    write_doc(folder, "good", "正常文档。")
    write_doc(folder, "bad-visibility", "内容。", visibility="secret")
    (folder / "bad-yaml.md").write_text("---\nvisibility: [oops\n---\n内容\n", encoding="utf-8")
    (folder / "empty.md").write_text("", encoding="utf-8")
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 garbage")
    (folder / "huge.md").write_text("字" * 2000, encoding="utf-8")
    index = make_index(tmp_path / "data")
    report = ingest_paths(index, [folder], max_bytes=3000)
    assert report.added == ["good"]
    failed = {Path(p).name: m for p, m in report.errors}
    assert set(failed) == {"bad-visibility.md", "bad-yaml.md", "empty.md", "broken.pdf", "huge.md"}
    assert "unknown visibility" in failed["bad-visibility.md"]
    assert index.document_ids() == ["good"]
    assert {c.metadata["doc_id"] for c in index.store.iter_chunks()} == {"good"}


def test_upload_then_delete(tmp_path: Path) -> None:
    index = make_index(tmp_path / "data")
    doc_id, status, chunks = ingest_upload(
        index, "note.md", "---\nvisibility: public\n---\n# 说明\n上传的文档。\n".encode(), max_bytes=LIMIT
    )
    assert (doc_id, status) == ("note", "added") and chunks == 1
    assert ingest_upload(index, "note.md", "---\nvisibility: public\n---\n# 说明\n上传的文档。\n".encode(),
                         max_bytes=LIMIT)[1] == "unchanged"
    delete_document(index, "note")
    assert index.document_ids() == [] and all_chunk_ids(index) == []
