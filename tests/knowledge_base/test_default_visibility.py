"""A document without a visibility label is for admins only, the ingest report lists it, and an owner
may choose otherwise for a run (``crm-copilot kb ingest --default-visibility``). api.md "Knowledge-base
documents"."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from copilot.core.errors import BadRequest
from copilot.core.settings import Settings
from eval.retrieval import demo_principals
from knowledge_base.indexer import ingest_paths
from retrievers.hybrid import KnowledgeIndex
from tests.knowledge_base.helpers import make_index, write_doc

WORD = "qvzlabel"
PRINCIPALS = demo_principals()


def corpus(folder: Path) -> Path:
    write_doc(folder, "labelled", f"## 正文\n已标注的文档 {WORD}。", visibility="internal")
    write_doc(folder, "no-label", f"## 正文\n作者忘了写 visibility {WORD}。", visibility=None)
    folder.joinpath("bare.md").write_text(f"# 没有 front matter\n裸文件 {WORD}。\n", encoding="utf-8")
    return folder


def readers(index: KnowledgeIndex, doc_id: str) -> set[str]:
    return {u for u, p in PRINCIPALS.items() if doc_id in {h.doc_id for h in index.search_as(p, WORD, k=10)}}


EMPLOYEES = {u for u in PRINCIPALS if u != "partner_user_1"}


def test_unlabelled_documents_are_admins_only_and_reported(tmp_path: Path) -> None:
    index = make_index(tmp_path / "data")
    report = ingest_paths(index, [corpus(tmp_path / "docs")], max_bytes=100_000)
    assert report.ok, report.errors
    assert sorted(report.unlabelled) == [("bare", "restricted"), ("no-label", "restricted")]
    assert report.to_dict()["unlabelled"] == [{"doc_id": d, "visibility": v} for d, v in report.unlabelled]
    assert readers(index, "no-label") == readers(index, "bare") == {"admin"}
    assert readers(index, "labelled") == EMPLOYEES


def test_an_owners_default_labels_only_the_unlabelled_and_can_be_taken_back(tmp_path: Path) -> None:
    index, docs = make_index(tmp_path / "data"), corpus(tmp_path / "docs")
    report = ingest_paths(index, [docs], max_bytes=100_000, default_visibility="public")
    assert sorted(report.unlabelled) == [("bare", "public"), ("no-label", "public")]
    assert readers(index, "no-label") == readers(index, "bare") == set(PRINCIPALS)  # partners too
    assert readers(index, "labelled") == EMPLOYEES  # its own label wins over the default
    # The next run without a default changes the ACL back: the documents are rewritten, not kept.
    again = ingest_paths(index, [docs], max_bytes=100_000)
    assert sorted(again.updated) == ["bare", "no-label"] and again.unchanged == ["labelled"]
    assert readers(index, "no-label") == {"admin"}


def test_an_unknown_default_is_refused_before_anything_is_read(tmp_path: Path) -> None:
    index = make_index(tmp_path / "data")
    with pytest.raises(BadRequest, match="unknown default visibility"):
        ingest_paths(index, [corpus(tmp_path / "docs")], max_bytes=100_000, default_visibility="everyone")
    assert index.document_ids() == []


def test_cli_flag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from copilot.cli import kb as kb_cli
    from copilot.cli.main import app

    index, docs = make_index(tmp_path / "data"), corpus(tmp_path / "docs")
    # A runtime with the test index (the fast hash embedder), not the configured model.
    monkeypatch.setattr(kb_cli, "runtime", lambda: SimpleNamespace(kb=index, settings=Settings()))
    runner = CliRunner()
    result = runner.invoke(app, ["kb", "ingest", str(docs), "--default-visibility", "internal", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert sorted((u["doc_id"], u["visibility"]) for u in report["unlabelled"]) == [
        ("bare", "internal"), ("no-label", "internal")]  # fmt: skip
    assert readers(index, "bare") == EMPLOYEES
    plain = runner.invoke(app, ["kb", "ingest", str(docs)])
    assert plain.exit_code == 0 and "unlabelled" in plain.stderr and "admins only" in plain.stderr
    wrong = runner.invoke(app, ["kb", "ingest", str(docs), "--default-visibility", "everyone"])
    assert wrong.exit_code == 2 and "everyone" in wrong.stderr
