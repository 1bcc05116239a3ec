"""File → Document, one loader per format. Every structural hint becomes a Markdown heading, so the
chunker has a single job whatever the source: Markdown (YAML front matter), HTML, PDF text layer,
Word .docx and plain text.

ACL defaults: no visibility → admins only, marked ``unlabelled`` for the ingest report (api.md; an
owner may choose otherwise with ``kb ingest --default-visibility``). Front matter that names roles or
departments without a visibility is an error (the author meant *something* restricted; guessing either
way is wrong). An unknown visibility is an error (copilot.crm.permissions decides).
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from copilot.core.errors import CopilotError
from copilot.crm.permissions import UNLABELLED_VISIBILITY
from knowledge_base.documents import Document, DocumentError

SUPPORTED_SUFFIXES = (".md", ".markdown", ".html", ".htm", ".pdf", ".txt", ".docx")
# Formats whose text may be many times their size (zip, flate streams): bounded by an expansion ratio too.
COMPRESSED_SUFFIXES = (".pdf", ".docx")
_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)", re.S)
_KNOWN_KEYS = {"id", "title", "visibility", "roles", "departments", "products", "lang", "doc_type"}
_ID = re.compile(r"^[\w.\-]{1,128}$", re.UNICODE)


def _str_list(meta: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = meta.get(key)
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str | int) for v in value):
        raise DocumentError(f"front matter: {key!r} must be a list of names")
    return tuple(str(v).strip() for v in value if str(v).strip())


def split_front_matter(text: str) -> tuple[dict[str, Any] | None, str]:
    """(metadata or None, body). Raises DocumentError for front matter that is not a YAML mapping."""
    text = text.lstrip("\ufeff")
    if not text.startswith("---"):
        return None, text
    match = _FRONT_MATTER.match(text)
    if match is None:
        raise DocumentError("malformed front matter: no closing '---' line")
    try:
        meta = yaml.safe_load(match.group(1))
    except yaml.YAMLError as exc:
        raise DocumentError(f"malformed front matter: {str(exc).splitlines()[0]}") from None
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise DocumentError("malformed front matter: expected 'key: value' lines")
    return meta, text[match.end() :]


def build_document(
    *, default_id: str, body: str, source: str, meta: Mapping[str, Any] | None, fallback_title: str = ""
) -> Document:
    meta = dict(meta or {})
    doc_id = str(meta.get("id") or default_id).strip()
    if not _ID.match(doc_id):
        raise DocumentError(f"invalid document id {doc_id!r} (letters, digits, '.', '_' or '-')")
    roles, departments = _str_list(meta, "roles"), _str_list(meta, "departments")
    visibility = meta.get("visibility")
    unlabelled = visibility is None
    if visibility is None:
        if roles or departments:
            raise DocumentError("front matter lists roles/departments but no visibility (say 'restricted')")
        visibility = UNLABELLED_VISIBILITY  # deny by default: admins only until someone labels it
    if not isinstance(visibility, str):
        raise DocumentError(f"unknown visibility {visibility!r}")
    visibility = visibility.strip().lower()
    body = body.strip()
    if not body:
        raise DocumentError("empty document (no text to index)")
    title = str(meta.get("title") or "").strip() or fallback_title or _first_heading(body) or doc_id
    document = Document(
        doc_id=doc_id, title=title, body=body, source=source, visibility=visibility, roles=roles,
        departments=departments, products=_str_list(meta, "products"),
        lang=str(meta.get("lang") or "").strip() or guess_lang(body),
        doc_type=str(meta.get("doc_type") or "").strip(),
        extra={k: str(v) for k, v in meta.items() if k not in _KNOWN_KEYS and isinstance(v, str | int | float)},
        unlabelled=unlabelled,
    )
    try:
        document.acl_tokens  # noqa: B018 — validates the visibility through the one policy module
    except CopilotError as exc:
        raise DocumentError(exc.message) from None
    return document


def _first_heading(body: str) -> str:
    for line in body.splitlines():
        if line.startswith("#"):
            return line.lstrip("#").strip()
    return ""


def guess_lang(text: str) -> str:
    cjk = len(re.findall(r"[\u4e00-\u9fff]", text))
    latin = len(re.findall(r"[A-Za-z]", text))
    return "zh" if cjk * 2 >= latin else "en"


# --- formats -------------------------------------------------------------------------------------


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            return data.decode("gb18030")  # Chinese Windows exports
        except UnicodeDecodeError:
            raise DocumentError("not valid UTF-8 or GB18030 text") from None


def load_markdown(data: bytes, default_id: str, source: str) -> Document:
    meta, body = split_front_matter(_decode(data))
    return build_document(default_id=default_id, body=body, source=source, meta=meta)


def load_text(data: bytes, default_id: str, source: str) -> Document:
    # Plain text may carry the same front matter; its paragraphs have no headings to keep.
    meta, body = split_front_matter(_decode(data))
    first = next((line.strip() for line in body.splitlines() if line.strip()), "")
    return build_document(default_id=default_id, body=body, source=source, meta=meta, fallback_title=first[:80])


def load_html(data: bytes, default_id: str, source: str) -> Document:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(data, "html.parser")
    for tag in soup(["script", "style", "nav", "header", "footer", "noscript"]):
        tag.decompose()
    # <meta name="visibility" content="restricted"> etc. play the role of front matter.
    meta: dict[str, Any] = {}
    for tag in soup.find_all("meta"):
        name, content = tag.get("name"), tag.get("content")
        if isinstance(name, str) and isinstance(content, str) and name.lower() in _KNOWN_KEYS:
            key = name.lower()
            is_list = key in ("roles", "departments", "products")
            meta[key] = [p.strip() for p in content.split(",")] if is_list else content
    title = soup.title.get_text(strip=True) if soup.title else ""
    lines: list[str] = []
    root = soup.body or soup
    for el in root.find_all(["h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "pre", "td", "blockquote"]):
        if el.find_parent(["p", "li", "td", "blockquote"]) is not None and el.name != "li":
            continue  # nested: its text is already in the parent's
        text = el.get_text(" ", strip=True)
        if not text:
            continue
        if el.name and el.name[0] == "h" and el.name[1:].isdigit():
            lines.append("#" * int(el.name[1:]) + " " + text)
        elif el.name == "li":
            lines.append("- " + text)
        else:
            lines.append(text)
    body = "\n\n".join(lines) if lines else root.get_text("\n", strip=True)
    return build_document(default_id=default_id, body=body, source=source, meta=meta, fallback_title=title)


def load_pdf(data: bytes, default_id: str, source: str, max_chars: int | None = None) -> Document:
    from pypdf import PdfReader

    budget = _Budget(max_chars)
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise DocumentError("encrypted PDF")
        pages = [budget.spend(page.extract_text() or "") for page in reader.pages]
        title = str((reader.metadata or {}).get("/Title") or "").strip()  # type: ignore[call-overload]
    except DocumentError:
        raise
    except Exception as exc:  # pypdf raises a zoo of types for broken files
        raise DocumentError(f"unreadable PDF: {exc}") from None
    if not any(p.strip() for p in pages):
        raise DocumentError("PDF has no text layer (scanned?) — nothing to index")
    # Page breaks are not topic breaks; keep paragraphs, drop the hard line wraps inside them.
    body = "\n\n".join(_unwrap(p) for p in pages if p.strip())
    return build_document(default_id=default_id, body=body, source=source, meta=None, fallback_title=title)


def _unwrap(page: str) -> str:
    paragraphs = re.split(r"\n\s*\n", page)
    out = []
    for para in paragraphs:
        lines = [ln.strip() for ln in para.splitlines() if ln.strip()]
        joined = ""
        for ln in lines:
            # No space between CJK fragments; a space between Latin words.
            sep = "" if not joined or re.search(r"[\u4e00-\u9fff]$", joined) else " "
            joined += sep + ln
        out.append(joined)
    return "\n\n".join(out)


def load_docx(data: bytes, default_id: str, source: str, max_chars: int | None = None) -> Document:
    import docx

    _refuse_zip_bomb(data)
    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:
        raise DocumentError(f"unreadable Word file: {exc}") from None
    lines: list[str] = []
    budget = _Budget(max_chars)
    for para in document.paragraphs:
        text = para.text.strip()
        if not text:
            continue
        budget.spend(text)
        style = (para.style.name if para.style is not None else "") or ""
        level = re.match(r"Heading (\d)", style)
        if style == "Title":
            lines.append("# " + text)
        elif level:
            lines.append("#" * min(int(level.group(1)) + 1, 6) + " " + text)
        elif style.startswith("List"):
            lines.append("- " + text)
        else:
            lines.append(text)
    for table in document.tables:
        for row in table.rows:
            lines.append(budget.spend(" | ".join(cell.text.strip() for cell in row.cells)))
    title = (document.core_properties.title or "").strip()
    body = "\n\n".join(lines)
    return build_document(default_id=default_id, body=body, source=source, meta=None, fallback_title=title)


class DocumentTooLarge(DocumentError):
    """Refused for its size, not its content (413 over HTTP): the bytes, or the text they expand to."""


# A Word file is a zip of XML: real ones expand 3-10x (images, already compressed, bring it near 1). A
# 3 KB file that expands to megabytes of XML is a decompression bomb, refused before any XML is parsed.
MAX_ZIP_EXPANSION = 100
MAX_ZIP_UNCOMPRESSED = 64 * 1024 * 1024


def _refuse_zip_bomb(data: bytes) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise DocumentError(f"unreadable Word file: {exc}") from None
    if unpacked > MAX_ZIP_UNCOMPRESSED or unpacked > MAX_ZIP_EXPANSION * max(len(data), 1):
        raise DocumentTooLarge(
            f"the file is {len(data):,} bytes but unpacks to {unpacked:,} bytes "
            f"(over {MAX_ZIP_EXPANSION}x): refused as a decompression bomb"
        )


class _Budget:
    """Characters extracted so far, so a loader stops at the limit instead of reading everything first."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.used = 0

    def spend(self, text: str) -> str:
        self.used += len(text)
        if self.limit is not None and self.used > self.limit:
            raise DocumentTooLarge(
                f"the extracted text is over {self.limit:,} characters (the per-document limit): split the document"
            )
        return text


LOADERS: dict[str, Callable[..., Document]] = {
    ".md": load_markdown,
    ".markdown": load_markdown,
    ".txt": load_text,
    ".html": load_html,
    ".htm": load_html,
    ".pdf": load_pdf,
    ".docx": load_docx,
}


def load_bytes(
    data: bytes,
    filename: str,
    source: str,
    max_bytes: int,
    *,
    max_chars: int | None = None,
    max_expansion: int | None = None,
) -> Document:
    """Parse one file's bytes. Raises DocumentError with a message a person can act on.

    Bounded work: a file over ``max_bytes``, text over ``max_chars`` characters, or a compressed format
    whose text is over ``max_expansion`` characters per byte of the file is refused (DocumentTooLarge),
    and the .docx and PDF loaders stop extracting as soon as the limit is passed."""
    suffix = Path(filename).suffix.lower()
    loader = LOADERS.get(suffix)
    if loader is None:
        supported = ", ".join(SUPPORTED_SUFFIXES)
        raise DocumentError(f"unsupported file type {suffix or '(none)'!r} (supported: {supported})")
    if len(data) > max_bytes:
        raise DocumentTooLarge(f"file is {len(data):,} bytes, over the {max_bytes:,}-byte limit")
    if not data.strip():
        raise DocumentError("empty document (no text to index)")
    limit = max_chars
    if max_expansion is not None and suffix in COMPRESSED_SUFFIXES:
        expanded = max_expansion * len(data)
        limit = expanded if limit is None else min(limit, expanded)
    if suffix in COMPRESSED_SUFFIXES:
        document = loader(data, Path(filename).stem, source, max_chars=limit)
    else:
        document = loader(data, Path(filename).stem, source)
    if limit is not None and len(document.body) > limit:
        raise DocumentTooLarge(
            f"the extracted text is {len(document.body):,} characters, over the limit of {limit:,} "
            f"for a {len(data):,}-byte {suffix} file: split the document"
        )
    return document


def load_path(
    path: Path, max_bytes: int, *, max_chars: int | None = None, max_expansion: int | None = None
) -> Document:
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise DocumentTooLarge(f"file is {size:,} bytes, over the {max_bytes:,}-byte limit")
        data = path.read_bytes()
    except OSError as exc:
        raise DocumentError(f"cannot read file: {exc.strerror or exc}") from None
    return load_bytes(
        data, path.name, str(path.resolve()), max_bytes, max_chars=max_chars, max_expansion=max_expansion
    )
