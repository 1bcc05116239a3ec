"""Files → the knowledge index, idempotently.

Rules (also in the CLI help):

* A document's id is its file stem, or ``id:`` in its front matter.
* Unchanged documents cost nothing: the document hash (text, title, ACL, tags, chunker version) is
  compared with the manifest before anything is embedded.
* A changed document replaces its old chunks; only chunks whose text changed are re-embedded.
* Without ``prune`` ingest only adds and updates. With ``prune``, a folder is *synced*: documents
  that were ingested from a file under that folder and whose file is gone are removed. (A file that
  is still there but fails to load keeps its previous version.)
* A file that fails (malformed front matter, unknown visibility, unreadable PDF, too large, empty,
  duplicate id in one run) is reported and skipped; nothing of it is written.
* A document that says nothing about who may read it (no ``visibility``) is for admins only and is
  listed in the report as ``unlabelled``; ``default_visibility`` lets the owner of a run mean otherwise.
* Crash safety comes from the write order in KnowledgeIndex.put_document (manifest row = commit).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from copilot.core.errors import BadRequest, NotFound, PayloadTooLarge
from copilot.core.settings import Settings
from copilot.crm.permissions import VISIBILITIES
from knowledge_base.chunking import CHUNKER_VERSION, chunk_document
from knowledge_base.documents import Document, DocumentError, with_default_visibility
from knowledge_base.loaders import SUPPORTED_SUFFIXES, DocumentTooLarge, load_bytes, load_path
from retrievers.embedding import CachingEmbedder
from retrievers.hybrid import KnowledgeIndex, index_text

DEMO_CORPUS = Path(__file__).parent / "corpus"
DEFAULT_MAX_CHARS: int = Settings.model_fields["max_document_chars"].default
DEFAULT_MAX_EXPANSION: int = Settings.model_fields["max_expansion_ratio"].default
EMBED_AHEAD_SLICE = 8


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (path, message)
    # Documents without a visibility label, with the visibility they went in under (admins only:
    # "restricted" to nobody, unless the run gave a default): so their owner can label them.
    unlabelled: list[tuple[str, str]] = field(default_factory=list)  # (doc_id, visibility)
    chunks_written: int = 0
    texts_embedded: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        return {
            "added": self.added, "updated": self.updated, "unchanged": self.unchanged,
            "removed": self.removed, "errors": [{"path": p, "message": m} for p, m in self.errors],
            "unlabelled": [{"doc_id": d, "visibility": v} for d, v in self.unlabelled],
            "chunks_written": self.chunks_written, "texts_embedded": self.texts_embedded,
        }


def document_hash(document: Document) -> str:
    return hashlib.sha256(f"{document.content_hash}:{CHUNKER_VERSION}".encode()).hexdigest()


def _chunk_id(document: Document, ordinal: int, heading: str, text: str) -> str:
    # Everything stored with the chunk is in the hash, so an id names exactly one record.
    digest = hashlib.sha256(
        "\x00".join([document.title, heading, text, document.visibility, ",".join(document.products),
                     document.lang, document.doc_type, document.source]).encode()
    ).hexdigest()[:12]
    return f"{document.doc_id}#{ordinal:04d}-{digest}"


@dataclass
class _Plan:
    """One document cut into what the index stores: everything but the vectors, computed without a lock."""

    document: Document
    doc_hash: str
    ids: list[str]
    texts: list[str]
    embed_texts: list[str]
    metas: list[dict[str, Any]]
    doc_meta: dict[str, Any]


def plan_document(document: Document) -> _Plan:
    chunks = chunk_document(document)
    if not chunks:
        raise DocumentError("empty document (no text to index)")
    products = ",".join(document.products)
    ids, texts, embed_texts, metas = [], [], [], []
    for chunk in chunks:
        ids.append(_chunk_id(document, chunk.ordinal, chunk.heading, chunk.text))
        texts.append(chunk.text)
        embed_texts.append(index_text(document.title, chunk.heading, chunk.text))
        metas.append({
            "doc_id": document.doc_id, "ordinal": chunk.ordinal, "title": document.title,
            "heading": chunk.heading, "lang": document.lang, "products": products,
            "visibility": document.visibility, "doc_type": document.doc_type, "source": document.source,
        })
    doc_meta = {
        "title": document.title, "source": document.source, "visibility": document.visibility,
        "n_chunks": len(chunks), "lang": document.lang,
    }
    return _Plan(document, document_hash(document), ids, texts, embed_texts, metas, doc_meta)


def embed_ahead(index: KnowledgeIndex, plan: _Plan) -> int:
    """Embed a planned document's new chunk texts *before* the writer lock is taken.

    The model call is the slow part of an ingest (minutes for a long document on a small machine); the
    lock (which KB searches of this process also wait for) is then held only to write rows. The vectors
    land in the caching embedder, where put_document finds them. With a non-caching embedder there is
    nothing to gain, so nothing is done. Returns how many texts were embedded here.
    """
    if not isinstance(index.embedder, CachingEmbedder):
        return 0
    if index.document_hash(plan.document.doc_id) == plan.doc_hash:
        return 0  # unchanged: put_document will not be called
    known: set[str] = set()
    old = index.docs.get(plan.document.doc_id)
    for cid in old.chunk_ids if old is not None else ():
        record = index.records.get(cid)
        if record is not None:
            m = record.metadata
            known.add(index_text(str(m.get("title", "")), str(m.get("heading", "")), record.text))
    todo = [t for t in dict.fromkeys(plan.embed_texts) if t not in known]
    # Small slices: the model serves one call at a time, so a search's query waits at most one slice.
    for start in range(0, len(todo), EMBED_AHEAD_SLICE):
        index.embedder.embed_passages(todo[start : start + EMBED_AHEAD_SLICE])
    return len(todo)


def write_planned(index: KnowledgeIndex, plan: _Plan) -> tuple[str, int, int]:
    """Put one planned document into the index (caller holds ``index.writing()``).

    Returns (status, chunks written, texts embedded); status is added | updated | unchanged.
    """
    previous = index.document_hash(plan.document.doc_id)
    if previous == plan.doc_hash:
        return "unchanged", 0, 0
    embedded = index.put_document(
        plan.document.doc_id, plan.doc_hash, plan.document.acl_tokens, plan.ids, plan.texts, plan.embed_texts,
        plan.metas, plan.doc_meta,
    )
    return ("added" if previous is None else "updated"), len(plan.ids), embedded


def write_document(index: KnowledgeIndex, document: Document) -> tuple[str, int, int]:
    """Plan and write one loaded document (caller holds ``index.writing()``)."""
    if index.document_hash(document.doc_id) == document_hash(document):
        return "unchanged", 0, 0
    return write_planned(index, plan_document(document))


def iter_files(paths: Iterable[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                if child.is_file() and child.suffix.lower() in SUPPORTED_SUFFIXES and not any(
                    part.startswith(".") for part in child.relative_to(path).parts
                ):
                    yield child
        else:
            yield path


def ingest_paths(
    index: KnowledgeIndex,
    paths: Iterable[Path | str],
    *,
    max_bytes: int,
    prune: bool = False,
    progress: bool = False,
    default_visibility: str | None = None,
    max_chars: int | None = DEFAULT_MAX_CHARS,
    max_expansion: int | None = DEFAULT_MAX_EXPANSION,
) -> IngestReport:
    if default_visibility is not None and default_visibility not in VISIBILITIES:
        raise BadRequest(f"unknown default visibility {default_visibility!r} (one of {', '.join(VISIBILITIES)})")
    roots = [Path(p) for p in paths]
    report = IngestReport()
    for root in roots:
        if not root.exists():
            report.errors.append((str(root), "no such file or folder"))
    files = list(iter_files(r for r in roots if r.exists()))
    seen_sources: set[str] = set()
    origin: dict[str, str] = {}
    with _progress(progress, len(files)) as advance:
        for path in files:
            source = str(path.resolve())
            seen_sources.add(source)
            try:
                loaded = load_path(path, max_bytes, max_chars=max_chars, max_expansion=max_expansion)
                document = with_default_visibility(loaded, default_visibility)
                if document.doc_id in origin:
                    raise DocumentError(f"duplicate document id {document.doc_id!r} (also {origin[document.doc_id]})")
                origin[document.doc_id] = str(path)
                # Load, chunk and embed without the lock; hold it per document, only to write.
                plan = plan_document(document)
                embed_ahead(index, plan)
                with index.writing():
                    status, n_chunks, n_embedded = write_planned(index, plan)
            except DocumentError as exc:
                report.errors.append((str(path), str(exc)))
            else:
                getattr(report, status).append(document.doc_id)
                if document.unlabelled:
                    report.unlabelled.append((document.doc_id, document.visibility))
                report.chunks_written += n_chunks
                report.texts_embedded += n_embedded
            advance(path.name)
    if prune:
        folders = [str(r.resolve()) + "/" for r in roots if r.is_dir()]
        with index.writing():
            for doc_id in index.document_ids():
                source = str((index.document_meta(doc_id) or {}).get("source", ""))
                if source and source not in seen_sources and any(source.startswith(f) for f in folders):
                    index.delete_document(doc_id)
                    report.removed.append(doc_id)
    return report


class _progress:
    """A rich progress bar on stderr for long runs; silent when not wanted."""

    def __init__(self, enabled: bool, total: int) -> None:
        self.enabled = enabled and total > 1
        self.total = total

    def __enter__(self):  # type: ignore[no-untyped-def]
        if not self.enabled:
            return lambda _name: None
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._bar = Progress(
            TextColumn("ingesting"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            TextColumn("{task.description}"), console=Console(stderr=True), transient=True,
        )
        self._bar.__enter__()
        task = self._bar.add_task("", total=self.total)
        return lambda name: self._bar.update(task, advance=1, description=name)

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self._bar.__exit__(None, None, None)


def ingest_upload(
    index: KnowledgeIndex,
    filename: str,
    data: bytes,
    *,
    max_bytes: int,
    screen: Callable[[Document], None] | None = None,
    max_chars: int | None = DEFAULT_MAX_CHARS,
    max_expansion: int | None = DEFAULT_MAX_EXPANSION,
    wait_s: float | None = None,
) -> tuple[str, str, int]:
    """One document from the HTTP API. Returns (doc_id, status, chunks). BadRequest if it is broken.

    ``screen`` sees the parsed document before anything is written and may refuse it by raising
    (the API refuses instructions aimed at the assistant; this layer does not know what those are).
    ``wait_s`` bounds the wait for another writer (a CLI ingest); past it ``Busy``, nothing written."""
    name = Path(filename or "").name
    if not name:
        raise BadRequest("a filename is required (its extension picks the format, its stem is the id)")
    try:
        document = load_bytes(
            data, name, f"upload:{name}", max_bytes, max_chars=max_chars, max_expansion=max_expansion
        )
        if screen is not None:
            screen(document)
        plan = plan_document(document)
        embed_ahead(index, plan)  # the slow part, outside the lock: other uploads and searches go on
        with index.writing(wait_s):
            status, n_chunks, _ = write_planned(index, plan)
    except DocumentTooLarge as exc:
        raise PayloadTooLarge(f"{name}: {exc}", code="document_too_large") from None
    except DocumentError as exc:
        raise BadRequest(f"{name}: {exc}", code="invalid_document") from None
    return document.doc_id, status, n_chunks


def delete_document(index: KnowledgeIndex, doc_id: str, *, wait_s: float | None = None) -> None:
    with index.writing(wait_s):
        if not index.delete_document(doc_id):
            raise NotFound(f"no knowledge-base document {doc_id!r}")


def ingest_demo(kb: KnowledgeIndex, settings: Settings, *, progress: bool = False) -> IngestReport:
    """The demo corpus into ``kb`` under ``settings``' limits (called by ``crm-copilot demo init``)."""
    return ingest_paths(
        kb, [DEMO_CORPUS], max_bytes=settings.max_document_bytes, prune=True, progress=progress,
        max_chars=settings.max_document_chars, max_expansion=settings.max_expansion_ratio,
    )
