"""The knowledge base bound to one principal: the ``Knowledge`` port skills search through.

The asker's ACL is fixed when the adapter is built (at the start of a turn), so a skill cannot ask for
another scope: ``search`` and ``document_chunks`` take no permission argument at all. The index itself
(retrievers/hybrid.py) applies the ACL inside the query; ``document_chunks`` checks the document's ACL
group with the policy (copilot.crm.permissions) before reading its chunks from the manifest.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cached_property

from copilot.crm.permissions import acl_scope, may_read_document
from copilot.crm.principal import Principal
from retrievers.hybrid import KnowledgeIndex, SearchHit, StoredRecord


class PrincipalKnowledge:
    """``open_index``: returns the index; called on first use only (most turns never search the KB)."""

    def __init__(self, open_index: Callable[[], KnowledgeIndex], principal: Principal) -> None:
        self._open = open_index
        self._principal = principal

    @cached_property
    def _index(self) -> KnowledgeIndex:
        return self._open()

    def search(self, query: str, k: int = 6) -> list[SearchHit]:
        if not query.strip():
            return []
        # Chunk level (per_document=None): a skill reads several sections of its chosen article.
        return self._index.search(query, acl_scope(self._principal), k, per_document=None)

    def document_chunks(self, doc_id: str) -> list[SearchHit]:
        index = self._index
        index.refresh()
        entry = index.docs.get(doc_id)
        if entry is None:
            return []
        try:
            tokens = json.loads(entry.group)
        except ValueError:
            return []
        if not may_read_document(self._principal, tokens):
            return []
        return [_hit(index.records[cid]) for cid in entry.chunk_ids if cid in index.records]


def _hit(record: StoredRecord) -> SearchHit:
    m = record.metadata
    return SearchHit(
        doc_id=record.doc_id,
        chunk_id=record.chunk_id,
        title=str(m.get("title", "")),
        text=record.text,
        score=0.0,
        heading=str(m.get("heading", "")),
        lang=str(m.get("lang", "")),
        products=tuple(p for p in str(m.get("products", "")).split(",") if p),
        visibility=str(m.get("visibility", "")),
        source=str(m.get("source", "")),
    )
