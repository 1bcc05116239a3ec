"""troubleshoot: likely causes, numbered steps, parts and escalation from the KB, for this device.

The error code comes from the input, else the message, else the ticket. The device (ticket's, page's or
input's) gives the product model, which narrows the KB search and decides which article applies. The
article is parsed into its sections (可能原因/排查步骤/所需备件/何时升级, or the English headings), and
every item keeps the chunk it came from, so each step cites its KB source; device lines cite the CRM.

The asker's words and the conversation's earlier turns reach the template (a model sees them); a
follow-up ("shorter", "in English") keeps the earlier turn's symptom and code and refines its answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from copilot.crm.models import Product
from retrievers.crm_records import RecordBundle, RecordRetriever
from retrievers.facts import Fact
from skills.base import PriorTurn, SkillContext, SkillRequest, SkillResult
from skills.compose import compose, fact_vars, result_from
from skills.grounding import article_chunks, doc_id, group_by_doc, kb_search, meta_list, sections_with_sources
from skills.instructions import read_instructions

TEMPLATE = "troubleshoot"
TEMPLATE_VERSION = "3"
HISTORY_SHOWN = 5
_PRODUCT_CODE = re.compile(r"(?<![A-Za-z0-9])(?:LC|RB|CR|BA|HA|SC|DC)-(?:\d+|CLOUD)(?![A-Za-z0-9])", re.IGNORECASE)
# E-204, A-17, H-12, C-05, SYNC-02 · F3 · 2031, 401 — after product codes are taken out of the text.
_ERROR_CODE = re.compile(r"(?<![A-Za-z0-9-])([A-Za-z]{1,4}-\d{1,3}|[A-Za-z]\d{1,2}|\d{3,4})(?![A-Za-z0-9])")
_NOT_CODES = {"4g", "5g", "p1", "p2", "p3", "p4", "q1", "q2", "q3", "q4"}


def find_error_code(text: str) -> str | None:
    """The first thing in ``text`` that looks like an alarm code, product models excluded."""
    stripped = _PRODUCT_CODE.sub(" ", text)
    for m in _ERROR_CODE.finditer(stripped):
        code = m.group(1)
        if code.lower() in _NOT_CODES or (
            code.isdigit() and len(code) == 4 and code.startswith(("19", "20")) and _looks_like_year(stripped, m.end())
        ):
            continue
        return code.upper()
    return None


def _looks_like_year(text: str, end: int) -> bool:
    return text[end : end + 1] in ("年", "-", "/")


def code_variants(code: str) -> set[str]:
    """E-204, E204 and e-204 are the same alarm."""
    flat = code.replace("-", "").upper()
    return {code.upper(), flat}


@dataclass
class Subject:
    error_code: str | None = None
    symptom: str = ""
    device_id: int | None = None
    ticket: Any = None
    bundle: RecordBundle | None = None
    crm_facts: list[Fact] = field(default_factory=list)


def resolve(request: SkillRequest, ctx: SkillContext, retriever: RecordRetriever) -> Subject:
    subject = Subject(symptom=str(request.input.get("symptom") or request.message or "").strip())
    ctx_ref = request.context
    if ctx_ref is not None and ctx_ref.object_type == "ticket":
        bundle = retriever.bundle("ticket", ctx_ref.object_id)
        subject.ticket = bundle.record
        subject.bundle = bundle
        subject.device_id = bundle.record.device_id
    elif ctx_ref is not None and ctx_ref.object_type == "device":
        subject.device_id = ctx_ref.object_id
    if request.input.get("device_id"):
        subject.device_id = int(request.input["device_id"])
    subject.error_code = (
        (str(request.input["error_code"]).strip().upper() if request.input.get("error_code") else None)
        or find_error_code(subject.symptom)
        or (subject.ticket.error_code if subject.ticket is not None else None)
    )
    if subject.ticket is not None and not request.input.get("symptom"):
        # "给我排查步骤" on a ticket page: the ticket says what is wrong, the message only asks for help.
        subject.symptom = subject.ticket.subject
    return subject


def _history_facts(retriever: RecordRetriever, device_id: int, locale: str) -> list[Fact]:
    zh = locale == "zh"
    kinds = {
        "install": ("安装", "installation"),
        "repair": ("维修", "repair"),
        "maintenance": ("保养", "maintenance"),
        "inspection": ("巡检", "inspection"),
    }
    facts = []
    for ev in reversed(retriever.service_history(device_id)):
        kind = kinds.get(ev.kind, (ev.kind, ev.kind))[0 if zh else 1]
        parts = ("，更换：" if zh else "; parts: ") + "、".join(ev.parts) if ev.parts else ""
        facts.append(
            Fact(
                id=f"crm:device_service_event:{ev.id}",
                type="crm",
                title=f"{'服务记录' if zh else 'Service event'} {ev.occurred_at.isoformat()}",
                text=f"{kind}：{ev.summary}{parts}" if zh else f"{kind}: {ev.summary}{parts}",
                meta={"object_type": "device_service_event", "record_id": ev.id, "date": ev.occurred_at.isoformat()},
            )
        )
    return facts


def _product_code(ctx: SkillContext, device_bundle: RecordBundle | None, text: str) -> str | None:
    if device_bundle is not None:
        for f in device_bundle.related:
            if f.meta.get("object_type") == "product":
                return str((f.meta.get("fields") or {}).get("code") or "") or None
    m = _PRODUCT_CODE.search(text)
    if m:
        code = m.group(0).upper()
        if ctx.records.first("product", Product.code == code) is not None:
            return code
    return None


def _mentions(text: str, code: str | None) -> bool:
    if not code:
        return False
    pattern = "|".join(re.escape(v) for v in code_variants(code))
    return re.search(rf"(?<![A-Z0-9])(?:{pattern})(?![0-9])", text) is not None


def pick_article(
    chunks: list[Fact], product: str | None, code: str | None, *, require_code: bool = False
) -> list[Fact]:
    """The chunks of the best article: one naming the error code (and the product when known) wins."""
    best: tuple[float, str] | None = None
    groups = group_by_doc(chunks)
    for rank, (doc, facts) in enumerate(groups.items()):
        text = " ".join(f.title + " " + f.text for f in facts).upper()
        score = 10.0 - rank
        has_code = _mentions(text, code)
        if require_code and not has_code:
            continue
        if _mentions(facts[0].title.upper(), code):
            score += 40  # the article is about this code; others may only mention it ("unlike E-101 …")
        elif has_code:
            score += 15
        products = {p.upper() for p in meta_list(facts[0], "products")}
        if product and product in products:
            score += 10
        elif product and products:
            score -= 15  # another model's article: its steps would be wrong for this device
        if facts[0].meta.get("doc_type") == "troubleshooting":
            score += 5
        if best is None or score > best[0]:
            best = (score, doc)
    return groups[best[1]] if best else []


def previous_turn(request: SkillRequest) -> PriorTurn | None:
    for turn in reversed(request.history):
        if turn.skill == "troubleshoot" and turn.answer:
            return turn
    return None


def run(request: SkillRequest, ctx: SkillContext) -> SkillResult:
    prior = previous_turn(request)
    now = read_instructions(request.message, ctx.locale)
    inst = now.over(prior.data.get("instructions")) if prior is not None else now
    if prior is not None and now.refines_only:
        # "shorter" / "in English" is not a symptom: the earlier turn's problem is still the problem.
        carried = {k: prior.data[k] for k in ("symptom", "error_code") if prior.data.get(k)}
        request = request.model_copy(update={"input": carried | dict(request.input)})
    lang = str(inst.language or ctx.locale)
    ctx_locale, ctx.locale = ctx.locale, lang  # type: ignore[assignment]
    try:
        return _run(request, ctx, prior, inst.as_data(), brief=inst.shorter)
    finally:
        ctx.locale = ctx_locale  # type: ignore[assignment]


def _run(
    request: SkillRequest, ctx: SkillContext, prior: PriorTurn | None, instructions: dict[str, Any], *, brief: bool
) -> SkillResult:
    retriever = RecordRetriever(ctx.records, ctx.locale)
    with ctx.timed("retrieval"):
        subject = resolve(request, ctx, retriever)
        device_bundle = retriever.bundle("device", subject.device_id) if subject.device_id else None
        history = _history_facts(retriever, subject.device_id, ctx.locale) if subject.device_id else []
    device_facts: list[Fact] = []
    if device_bundle is not None:
        device_facts = [device_bundle.main] + [
            f for f in device_bundle.related if f.meta.get("object_type") == "product"
        ]
    if subject.bundle is not None:
        device_facts = [subject.bundle.main, *device_facts]
    product = _product_code(ctx, device_bundle, subject.symptom)

    query = " ".join(x for x in (product, subject.error_code, subject.symptom) if x)
    article: list[Fact] = []
    if subject.error_code:
        # Model + code first: both are exact tokens, and chatty words in the message only add noise.
        focused = kb_search(ctx, " ".join(x for x in (product, subject.error_code) if x), k=10)
        article = pick_article(focused, product, subject.error_code, require_code=True)
    if not article:
        # With a code, an article that does not name it would be steps for some other alarm: none at all
        # (and "escalate") is the honest answer. Without a code, the symptom decides.
        chunks = kb_search(ctx, query, k=10)
        article = pick_article(chunks, product, subject.error_code, require_code=bool(subject.error_code))
    article = article_chunks(ctx, article, query)
    sections = sections_with_sources(article)

    def items(name: str) -> list[dict[str, str]]:
        return [{"text": text, "id": src.id} for text, src in sections.get(name, [])]

    steps = items("steps")
    cited_ids = {src.id for name in ("causes", "steps", "parts", "escalate") for _, src in sections.get(name, [])}
    used_kb = [f for f in article if f.id in cited_ids]
    shown_history = history[:HISTORY_SHOWN]
    variables = {
        "request": request.message,
        "history": [{"message": t.message, "answer": t.answer} for t in request.history[-4:] if t.answer],
        "previous_answer": prior.answer if prior is not None else "",
        "instructions": instructions,
        "brief": brief,
        "symptom": subject.symptom,
        "error_code": subject.error_code or "",
        "product": product or "",
        "device_facts": fact_vars(device_facts),
        "service_history": [{"id": h.id, "date": h.meta["date"], "text": h.text} for h in shown_history],
        "causes": items("causes"),
        "steps": steps,
        "parts": items("parts"),
        "escalate": items("escalate"),
        "article": {"title": article[0].title, "doc_id": doc_id(article[0])} if article else {},
        # troubleshoot@1 reads whole chunks as kb_steps; passing them keeps v1 renderable (preview).
        "kb_steps": [{"id": f.id, "title": f.title, "text": f.text} for f in used_kb],
    }
    cited = [*device_facts, *shown_history, *used_kb]
    composed = compose(ctx, TEMPLATE, variables, cited, version=TEMPLATE_VERSION)
    result = result_from(
        ctx,
        "troubleshoot",
        composed,
        cited,
        data={
            "error_code": subject.error_code,
            "symptom": subject.symptom,
            "language": ctx.locale,
            "instructions": instructions,
            "product": product,
            "device_id": subject.device_id,
            "article": doc_id(article[0]) if article else None,
            "sources": sorted({doc_id(f) for f in used_kb}),
            "steps": [s["text"] for s in steps],
            "parts": [p["text"] for p in items("parts")],
        },
    )
    if not steps:
        result.warnings.append("no_kb_article")
    elif (article_lang := str(article[0].meta.get("lang") or ctx.locale)) != ctx.locale:
        result.warnings.append(f"article_language:{article_lang}")  # steps quoted as the article writes them
    return result
