"""The knowledge base over HTTP: permission-filtered search, and document upload/removal for admins
and knowledge managers.

Search runs as the caller: the index filters by the caller's ACL tokens inside both searches.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from copilot.api.deps import PrincipalDep, RuntimeDep, SessionDep
from copilot.core.errors import BadRequest, Forbidden, NotFound, PayloadTooLarge, Unprocessable
from copilot.crm.permissions import may_write_knowledge_base
from copilot.crm.principal import Principal

router = APIRouter(prefix="/v1/kb", tags=["knowledge base"])

class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    query: Annotated[str, Field(min_length=1, max_length=2000)]
    k: Annotated[int, Field(ge=1, le=50)] = 5
    per_document: Annotated[
        int | None,
        Field(ge=1, le=50, description="at most this many chunks of one document; null for no limit"),
    ] = 1


class SearchResult(BaseModel):
    doc_id: str
    chunk_id: str
    title: str
    text: str
    score: float
    heading: str = ""


class SearchResponse(BaseModel):
    results: list[SearchResult]


class DocumentUpload(BaseModel):
    model_config = ConfigDict(extra="forbid")
    filename: Annotated[str, Field(min_length=1, max_length=255, description="e.g. e-204-faq.md")]
    content: Annotated[str, Field(min_length=1, description="the file's text (Markdown with front matter)")]


class DocumentWritten(BaseModel):
    doc_id: str
    status: str  # added | updated | unchanged
    chunks: int


@router.post("/search", response_model=SearchResponse)
def search(body: SearchRequest, runtime: RuntimeDep, principal: PrincipalDep, session: SessionDep) -> SearchResponse:
    if not body.query.strip():
        raise Unprocessable("query must not be blank", code="invalid_request")
    # The assistant's door for a search: the turn's input checks, the ACL inside the index, an audit row.
    hits = runtime.assistant.search_knowledge(session, principal, body.query, body.k, per_document=body.per_document)
    session.commit()
    return SearchResponse(
        results=[
            SearchResult(doc_id=h.doc_id, chunk_id=h.chunk_id, title=h.title, text=h.text, score=h.score,
                         heading=h.heading)
            for h in hits
        ]
    )


def _require_writer(principal: Principal) -> None:
    if not may_write_knowledge_base(principal):  # the policy decides (copilot.crm.permissions)
        raise Forbidden("only administrators and knowledge managers may change the knowledge base")


@router.post(
    "/documents",
    response_model=DocumentWritten,
    status_code=201,
    openapi_extra={
        "requestBody": {
            "content": {
                "application/json": {"schema": DocumentUpload.model_json_schema()},
                "multipart/form-data": {
                    "schema": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}},
                               "required": ["file"]}
                },
            },
            "required": True,
        }
    },
)
async def add_document(request: Request, runtime: RuntimeDep, principal: PrincipalDep) -> DocumentWritten:
    """Add or replace one document: JSON ``{"filename", "content"}`` or a multipart ``file`` upload."""
    _require_writer(principal)
    limit = runtime.settings.max_document_bytes
    filename, data = await _read_upload(request, limit)
    if len(data) > limit:
        raise PayloadTooLarge(f"document is over the {limit:,}-byte limit")
    from knowledge_base.indexer import ingest_upload

    # Embedding takes a while: keep it off the event loop. Searches never wait for this writer.
    doc_id, status, chunks = await run_in_threadpool(
        ingest_upload, runtime.kb, filename, data, max_bytes=limit, screen=_refuse_instructions_to_the_model,
        max_chars=runtime.settings.max_document_chars, max_expansion=runtime.settings.max_expansion_ratio,
        wait_s=runtime.settings.kb_write_wait_s,  # a CLI ingest holding the lock: 503 kb_busy, not a hang
    )
    return DocumentWritten(doc_id=doc_id, status=status, chunks=chunks)


def _refuse_instructions_to_the_model(document: Any) -> None:
    """An uploaded article that tells the assistant to ignore permissions or change role is refused
    before anything is written. (What is already indexed is still stripped of such sentences at answer
    time by the trust layer; this keeps them out in the first place and tells the author why.)"""
    from copilot.llm.trust import find_injections

    found = find_injections(f"{document.title}\n{document.body}")
    if found:
        raise Unprocessable(
            f"{document.doc_id}: the document contains instructions aimed at the assistant "
            f"({found[0]!r}); remove them and upload again",
            code="prompt_injection",
        )


async def _read_upload(request: Request, limit: int) -> tuple[str, bytes]:
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        form = await request.form()
        upload: Any = form.get("file")
        if upload is None or isinstance(upload, str):
            raise Unprocessable("multipart upload needs a 'file' part", code="invalid_request")
        data = await upload.read(limit + 1)
        return str(upload.filename or ""), data
    try:
        raw = await request.body()
        if len(raw) > 2 * limit + 4096:  # JSON-escaped text is larger than the file; still bounded
            raise PayloadTooLarge(f"document is over the {limit:,}-byte limit")
        body = DocumentUpload.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "body"
        raise Unprocessable(f"{where}: {first.get('msg')}", code="invalid_request") from None
    return body.filename, body.content.encode("utf-8")


class DocumentOut(BaseModel):
    doc_id: str
    title: str
    text: str = Field(description="the document's text as indexed, its sections under their headings")
    front_matter: dict[str, Any] = Field(description="title, visibility, products, lang, type, source")
    sections: list[dict[str, str]] = Field(description="heading and text of each indexed chunk, in order")


@router.get("/documents/{doc_id:path}", response_model=DocumentOut)
def get_document(doc_id: str, runtime: RuntimeDep, principal: PrincipalDep) -> DocumentOut:
    """One document the caller may read (a citation ``kb:<doc_id>#…`` opens it); 404 otherwise, whether
    it is missing or not theirs to read."""
    from retrievers.knowledge import PrincipalKnowledge

    wanted = doc_id.removeprefix("kb:").split("#", 1)[0].strip()
    # The policy decides inside document_chunks (the document's ACL group against the caller's scope).
    chunks = PrincipalKnowledge(lambda: runtime.kb, principal).document_chunks(wanted) if wanted else []
    if not chunks:
        raise NotFound(f"document {wanted!r} not found", code="document_not_found")
    first = chunks[0]
    sections = [{"heading": c.heading, "text": c.text} for c in chunks]
    lines: list[str] = []
    heading = None
    for c in chunks:
        if c.heading and c.heading != heading:
            lines.append(f"## {c.heading.split(' > ')[-1]}")
            heading = c.heading
        lines.append(c.text)
    front = {"title": first.title, "visibility": first.visibility, "products": list(first.products),
             "lang": first.lang, "source": first.source}
    return DocumentOut(doc_id=wanted, title=first.title or wanted, text="\n\n".join(lines),
                       front_matter={k: v for k, v in front.items() if v not in ("", [])}, sections=sections)


@router.delete("/documents/{doc_id}", status_code=204)
def delete_document(doc_id: str, runtime: RuntimeDep, principal: PrincipalDep) -> None:
    _require_writer(principal)
    from knowledge_base.indexer import delete_document as remove

    if not doc_id.strip():
        raise BadRequest("doc_id is required")
    remove(runtime.kb, doc_id, wait_s=runtime.settings.kb_write_wait_s)
