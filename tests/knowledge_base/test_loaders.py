"""Loaders: every format becomes a Document with the right ACL; broken files fail with a clear reason."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from knowledge_base.documents import DocumentError
from knowledge_base.loaders import load_bytes, load_path

LIMIT = 100_000


def md(text: str, name: str = "doc.md"):  # type: ignore[no-untyped-def]
    return load_bytes(text.encode("utf-8"), name, name, LIMIT)


def test_front_matter_sets_acl_and_metadata() -> None:
    doc = md("---\ntitle: 报警排查\nvisibility: restricted\nroles: [service_agent]\ndepartments: [service]\n"
             "products: [LC-3015]\nlang: zh\n---\n# 报警\n正文。\n", "lc-e204.md")
    assert doc.doc_id == "lc-e204"
    assert doc.title == "报警排查"
    assert doc.acl_tokens == {"role:service_agent", "dept:service"}
    assert doc.products == ("LC-3015",)


def test_no_front_matter_is_admins_only_and_title_from_heading() -> None:
    doc = md("# 冷柜保养\n每月清洁冷凝器。\n", "fridge.md")
    assert doc.visibility == "restricted" and doc.unlabelled  # api.md: deny by default, reported
    assert doc.acl_tokens == frozenset()  # no token: only an admin's scope matches
    assert doc.title == "冷柜保养"


def test_front_matter_id_overrides_stem() -> None:
    assert md("---\nid: custom-id\nvisibility: public\n---\ntext\n", "x.md").doc_id == "custom-id"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("---\nvisibility: secret\n---\nbody\n", "unknown visibility"),
        ("---\nvisibility: [public\n---\nbody\n", "malformed front matter"),
        ("---\nvisibility: public\nbody without end\n", "malformed front matter"),
        ("---\n- a\n- b\n---\nbody\n", "malformed front matter"),
        ("---\nroles: [sales_rep]\n---\nbody\n", "no visibility"),
        ("---\nvisibility: public\n---\n   \n", "empty"),
        ("", "empty"),
        ("---\nvisibility: restricted\nroles: {a: 1}\n---\nbody\n", "roles"),
    ],
)
def test_broken_markdown_is_rejected_with_reason(text: str, message: str) -> None:
    with pytest.raises(DocumentError, match=message):
        md(text)


def test_over_size_limit_rejected(tmp_path: Path) -> None:
    path = tmp_path / "big.md"
    path.write_text("字" * 1000, encoding="utf-8")
    with pytest.raises(DocumentError, match="over the 100-byte limit"):
        load_path(path, 100)


def test_unsupported_type_rejected() -> None:
    with pytest.raises(DocumentError, match="unsupported file type"):
        load_bytes(b"abc", "a.xlsx", "a.xlsx", LIMIT)


def test_html_headings_lists_and_meta_acl() -> None:
    html = (
        "<html><head><title>SC-400 F7</title><meta name='visibility' content='restricted'>"
        "<meta name='roles' content='service_agent, service_manager'></head><body><script>x()</script>"
        "<h1>F7 门未关报警</h1><p>门开超过 3 分钟报警。</p><h2>排查</h2><ul><li>检查门封条</li></ul></body></html>"
    )
    doc = load_bytes(html.encode(), "sc-400-f7.html", "x", LIMIT)
    assert doc.title == "SC-400 F7"
    assert doc.acl_tokens == {"role:service_agent", "role:service_manager"}
    assert "## 排查" in doc.body and "- 检查门封条" in doc.body and "x()" not in doc.body


def test_html_unknown_visibility_rejected() -> None:
    with pytest.raises(DocumentError, match="unknown visibility"):
        load_bytes(b"<html><head><meta name='visibility' content='everyone'></head><p>x</p></html>", "a.html",
                   "a", LIMIT)


def test_pdf_text_layer(tmp_path: Path) -> None:
    fpdf = pytest.importorskip("fpdf")
    pdf = fpdf.FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.multi_cell(0, 8, "Servo drive alarm E-410. Check the encoder cable first.")
    path = tmp_path / "e410.pdf"
    pdf.output(str(path))
    doc = load_path(path, LIMIT)
    assert "E-410" in doc.body and doc.visibility == "restricted" and doc.unlabelled and doc.lang == "en"


def test_pdf_unreadable_and_without_text(tmp_path: Path) -> None:
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4 this is not really a pdf")
    with pytest.raises(DocumentError, match="PDF"):
        load_path(broken, LIMIT)
    fpdf = pytest.importorskip("fpdf")
    pdf = fpdf.FPDF()
    pdf.add_page()  # a page with no text: like a scan
    blank = tmp_path / "scan.pdf"
    pdf.output(str(blank))
    with pytest.raises(DocumentError, match="no text layer"):
        load_path(blank, LIMIT)


def test_docx_headings_become_sections() -> None:
    docx = pytest.importorskip("docx")
    document = docx.Document()
    document.add_heading("RB-20 保养", level=1)
    document.add_paragraph("每 24 个月更换编码器电池。")
    buffer = io.BytesIO()
    document.save(buffer)
    doc = load_bytes(buffer.getvalue(), "rb20.docx", "x", LIMIT)
    assert "## RB-20 保养" in doc.body and "编码器电池" in doc.body


def test_plain_text_and_gb18030() -> None:
    doc = load_bytes("冷柜 F3 压缩机过载\n先断电十分钟再开机。".encode("gb18030"), "f3.txt", "x", LIMIT)
    assert doc.title == "冷柜 F3 压缩机过载" and doc.visibility == "restricted" and doc.unlabelled
