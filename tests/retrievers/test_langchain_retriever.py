"""The LangChain retriever is the same permission-filtered search, bound to one user."""

from __future__ import annotations

from pathlib import Path

import pytest

from copilot.core.settings import Settings
from copilot.crm.principal import Principal
from retrievers.hybrid import KnowledgeIndex

pytest.importorskip("langchain_core")

DOCS = {
    "public-note": ("public", [], [], "激光切割机日常清洁：每班清理喷嘴与保护镜。"),
    "pricing-secret": ("restricted", ["sales_rep"], ["sales"], "激光切割机折扣底线：经理权限内最低价 598400 元。"),
}


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> KnowledgeIndex:
    from knowledge_base.indexer import ingest_paths

    folder = tmp_path_factory.mktemp("kb")
    for doc_id, (visibility, roles, depts, body) in DOCS.items():
        front = f"---\ntitle: {doc_id}\nvisibility: {visibility}\nroles: {roles}\ndepartments: {depts}\n---\n"
        (folder / f"{doc_id}.md").write_text(front + "## 正文\n" + body + "\n", encoding="utf-8")
    settings = Settings(data_dir=Path(tmp_path_factory.mktemp("data")))
    idx = KnowledgeIndex.open(settings)
    ingest_paths(idx, [folder], max_bytes=settings.max_document_bytes)
    return idx


def _principal(roles: set[str], depts: tuple[str, ...] = ()) -> Principal:
    return Principal(user_id=1, username="u", roles=frozenset(roles), ancestor_department_codes=depts)


def test_chain_user_sees_only_what_the_acl_allows(index: KnowledgeIndex) -> None:
    from retrievers.langchain import KnowledgeRetriever

    agent = KnowledgeRetriever(index=index, principal=_principal({"service_agent"}, ("service", "hq")), k=10)
    rep = KnowledgeRetriever(index=index, principal=_principal({"sales_rep"}, ("sales-east", "sales", "hq")), k=10)

    agent_docs = agent.invoke("激光切割机 折扣 清洁")
    rep_docs = rep.invoke("激光切割机 折扣 清洁")

    assert {d.metadata["doc_id"] for d in agent_docs} == {"public-note"}
    assert {d.metadata["doc_id"] for d in rep_docs} == {"public-note", "pricing-secret"}
    assert all("598400" not in d.page_content for d in agent_docs)
    assert all(d.id and d.metadata["title"] for d in rep_docs)
