"""Chunking keeps headings with their text and splits Chinese and English at sentence ends."""

from __future__ import annotations

import itertools

from knowledge_base.chunking import MAX_CHARS, chunk_document, split_sentences
from knowledge_base.documents import Document


def doc(body: str, title: str = "标题") -> Document:
    return Document(doc_id="d", title=title, body=body, source="x")


def test_heading_path_is_carried() -> None:
    body = "# 总览\n" + "概述内容很长。" * 30
    body += "\n## 排查步骤\n" + "第一步检查喷嘴。" * 30 + "\n### 细节\n" + "更细。" * 60
    chunks = chunk_document(doc(body))
    headings = {c.heading for c in chunks}
    assert "总览 > 排查步骤" in headings and "总览 > 排查步骤 > 细节" in headings
    assert all(c.text for c in chunks)


def test_chinese_split_at_sentence_ends_within_budget() -> None:
    sentence = "切割头随动系统检测到电容异常时会报警并抬起Z轴。"
    chunks = chunk_document(doc("## 现象\n" + sentence * 60))
    assert len(chunks) > 1
    assert all(len(c.text) <= MAX_CHARS + len(sentence) for c in chunks)
    # Every chunk ends at a sentence end, never in the middle of one.
    assert all(c.text.endswith("。") for c in chunks)


def test_overlap_repeats_the_boundary_sentence() -> None:
    sentences = [f"第{i}句说明一个独立的事实。" for i in range(80)]
    chunks = chunk_document(doc("## 步骤\n" + "".join(sentences)))
    for first, second in itertools.pairwise(chunks):
        last = first.text.split("。")[-2] + "。"
        assert second.text.startswith(last)


def test_english_sentences_split() -> None:
    units = [u for u, _ in split_sentences("Check the cable. Replace the fuse! Done? Yes; ok")]
    assert units == ["Check the cable.", "Replace the fuse!", "Done?", "Yes;", "ok"]


def test_small_sections_are_merged_with_heading_kept() -> None:
    chunks = chunk_document(doc("## 现象\n报警。\n## 原因\n喷嘴松动。\n"))
    assert len(chunks) == 1
    assert "原因" in chunks[0].text and "喷嘴松动" in chunks[0].text


def test_chunk_ids_are_stable() -> None:
    a = chunk_document(doc("## 一\n" + "内容。" * 200))
    b = chunk_document(doc("## 一\n" + "内容。" * 200))
    assert [c.content_hash for c in a] == [c.content_hash for c in b]
