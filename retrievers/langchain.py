"""Our permission-filtered knowledge-base search as a LangChain ``BaseRetriever``.

For users who compose chains of their own (``KnowledgeRetriever(index=runtime.kb, principal=p) |
prompt | GatewayChatModel(...)``). Import this module explicitly: nothing on the request path imports
LangChain. The retriever is bound to one principal, so a chain can never read beyond that user's ACL.
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field

from copilot.crm.principal import Principal
from retrievers.hybrid import KnowledgeIndex


class KnowledgeRetriever(BaseRetriever):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    index: KnowledgeIndex
    principal: Principal
    k: int = Field(default=5, ge=1, le=50)

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        hits = self.index.search_as(self.principal, query, self.k)
        return [Document(page_content=h.text, metadata=_metadata(h.to_dict()), id=h.chunk_id) for h in hits]


def _metadata(hit: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in hit.items() if k != "text"}
