"""Bounded extraction: a tiny Word file that unpacks to a book is refused in milliseconds, text over the
per-document limit is refused while it is being read, and one long ingest does not hold up searches."""

from __future__ import annotations

import io
import re
import threading
import time
import zipfile
from pathlib import Path

import pytest

from copilot.core.errors import PayloadTooLarge
from copilot.crm.permissions import ACL_EVERYTHING
from knowledge_base.indexer import ingest_upload
from knowledge_base.loaders import DocumentTooLarge, load_bytes
from retrievers.embedding import CachingEmbedder
from tests.knowledge_base.helpers import FakeEmbedder, make_index

LIMIT = 2_000_000
PARAGRAPH = "设备报错E-204时请先检查电源和线缆，然后重启控制器。"
W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"


def docx_bomb(chars: int = 150_000) -> bytes:
    """A valid .docx (the three parts Word needs) whose one XML part repeats a paragraph until the text is
    ``chars`` long: deflate squeezes it to about 3 KB."""
    para = f"<w:p><w:r><w:t>{PARAGRAPH}</w:t></w:r></w:p>"
    document = (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document xmlns:w="{W}"><w:body>'
        + para * (chars // len(PARAGRAPH) + 1)
        + "</w:body></w:document>"
    )
    content_types = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/word/document.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>'
    )
    rels = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Target="word/document.xml" '
        'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"/></Relationships>'
    )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", content_types)
        archive.writestr("_rels/.rels", rels)
        archive.writestr("word/document.xml", document)
    return buf.getvalue()


def _text_inside(data: bytes) -> int:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        xml = archive.read("word/document.xml").decode()
    return sum(len(t) for t in re.findall(r"<w:t>([^<]*)</w:t>", xml))


def test_the_bomb_is_what_the_issue_describes() -> None:
    data = docx_bomb()
    assert len(data) < 4_000
    assert _text_inside(data) >= 150_000
    # A real Word document, not a broken zip: python-docx opens it and sees the paragraphs.
    import docx

    small = docx.Document(io.BytesIO(docx_bomb(2_000)))
    assert small.paragraphs[0].text == PARAGRAPH


def test_the_docx_bomb_is_refused_in_well_under_five_seconds(tmp_path: Path) -> None:
    index = make_index(tmp_path / "data")
    started = time.perf_counter()
    with pytest.raises(PayloadTooLarge, match="decompression bomb") as refused:
        ingest_upload(index, "bomb.docx", docx_bomb(), max_bytes=LIMIT)
    elapsed = time.perf_counter() - started
    assert elapsed < 5.0, f"took {elapsed:.2f} s"
    assert refused.value.code == "document_too_large"
    assert index.document_ids() == []  # nothing of it was written


def test_text_over_the_limit_is_refused_while_reading(tmp_path: Path) -> None:
    """A Word file made by python-docx, compressed like a real one (no bomb), with more text than one
    document may hold: the loader stops at the limit and says so."""
    import docx

    document = docx.Document()
    for i in range(400):
        document.add_paragraph(f"第{i}段：" + "冷柜E-204报错后，先断电十分钟再检查压缩机和温控器的接线。" * 3)
    buf = io.BytesIO()
    document.save(buf)
    data = buf.getvalue()
    text_len = sum(len(p.text) for p in document.paragraphs)
    assert text_len > 30_000
    with pytest.raises(DocumentTooLarge, match="30,000 characters"):
        load_bytes(data, "manual.docx", "x", LIMIT, max_chars=30_000)
    # Under the limit the same file loads whole.
    loaded = load_bytes(data, "manual.docx", "x", LIMIT, max_chars=text_len + 10_000)
    assert "第399段" in loaded.body


def test_expansion_ratio_applies_to_compressed_formats_only() -> None:
    text = ("## 保养\n" + "冷柜每周清洁一次冷凝器。" * 50).encode()
    # Plain text never expands: the ratio cannot refuse it.
    assert load_bytes(text, "care.md", "x", LIMIT, max_expansion=1).body.startswith("## 保养")
    bomb = docx_bomb(20_000)
    with pytest.raises(DocumentTooLarge):
        load_bytes(bomb, "b.docx", "x", LIMIT, max_expansion=5)


def test_a_long_ingest_does_not_hold_up_searches(tmp_path: Path) -> None:
    """The model call runs before the writer lock: a search during a slow ingest answers at once."""
    slow = CachingEmbedder(FakeEmbedder(delay_s=0.05))  # 50 ms per passage: ~3 s for this document
    index = make_index(tmp_path / "data", slow)  # type: ignore[arg-type]
    ingest_upload(index, "care.md", "## 保养\n冷柜每周清洁一次冷凝器。".encode(), max_bytes=LIMIT)
    steps = "第{i}节讲压缩机E-{i:03d}报错的处理步骤，先断电再检查。"
    body = "\n".join(f"## 第{i}节\n" + steps.format(i=i) * 12 for i in range(60))
    done = threading.Event()

    def ingest() -> None:
        ingest_upload(index, "long.md", body.encode(), max_bytes=LIMIT)
        done.set()

    worker = threading.Thread(target=ingest, daemon=True)
    worker.start()
    time.sleep(0.5)  # the worker is embedding now
    started = time.perf_counter()
    hits = index.search("冷柜清洁", ACL_EVERYTHING, 3)
    elapsed = time.perf_counter() - started
    still_ingesting = not done.is_set()
    worker.join(60)
    assert done.is_set()
    assert still_ingesting, "the ingest finished before the search: the test proved nothing"
    assert hits and hits[0].doc_id == "care"
    assert elapsed < 0.5, f"a search waited {elapsed:.2f} s for the ingest"
    assert "long" in index.document_ids()
