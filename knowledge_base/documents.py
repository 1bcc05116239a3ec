"""What the loaders produce and the chunker consumes: one document with its ACL and metadata."""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from copilot.crm.permissions import UNLABELLED_VISIBILITY, VISIBILITIES, document_acl_tokens


class DocumentError(ValueError):
    """A file that cannot be ingested (reported for that file; the others go in)."""


@dataclass(frozen=True)
class Document:
    doc_id: str
    title: str
    # Markdown-ish body: "#" headings structure it, whatever the source format was.
    body: str
    source: str
    # Deny by default (api.md): a document nobody labelled is for admins only ("restricted" to no one).
    visibility: str = UNLABELLED_VISIBILITY
    roles: tuple[str, ...] = ()
    departments: tuple[str, ...] = ()
    products: tuple[str, ...] = ()
    lang: str = ""
    doc_type: str = ""
    extra: dict[str, str] = field(default_factory=dict)
    # True when the source said nothing about who may read it (no ``visibility``): the ingest report
    # lists such documents so their owner can label them.
    unlabelled: bool = False

    @property
    def acl_tokens(self) -> frozenset[str]:
        # The one vocabulary (copilot.crm.permissions); raises BadRequest on an unknown visibility.
        return document_acl_tokens(self.visibility, self.roles, self.departments)

    @property
    def content_hash(self) -> str:
        """Changes whenever anything that ends up in the index changes (text, title, ACL, tags)."""
        h = hashlib.sha256()
        for part in (
            self.doc_id, self.title, self.body, self.visibility, ",".join(sorted(self.roles)),
            ",".join(sorted(self.departments)), ",".join(self.products), self.lang, self.doc_type,
        ):
            h.update(part.encode("utf-8"))
            h.update(b"\x00")
        return h.hexdigest()


def doc_id_for(path: Path) -> str:
    """A file's document id: its stem (what eval/datasets/retrieval.yaml names)."""
    return path.stem


def with_default_visibility(document: Document, default: str | None) -> Document:
    """An unlabelled document under the visibility its owner chose for the whole run
    (``crm-copilot kb ingest --default-visibility``); labelled documents are left alone.

    ``restricted`` as a default names no role or department: admins only, as with no default at all.
    """
    if default is None or not document.unlabelled:
        return document
    if default not in VISIBILITIES:
        raise DocumentError(f"unknown default visibility {default!r} (expected one of {', '.join(VISIBILITIES)})")
    return dataclasses.replace(document, visibility=default)
