"""reply_suggestion: a draft reply to the ticket's customer, in their language and register.

Grounded in the ticket (status, process node, assignee), the device and KB articles (the reply
etiquette SOP, and the troubleshooting article for the ticket's alarm, whose first safe steps the
customer can try). Internal notes never reach the draft. Whatever wrote the draft, the promise guard
then removes dates, times, prices and guarantees that the records do not hold.
"""

from __future__ import annotations

import re

from copilot.core.errors import BadRequest
from retrievers.crm_records import RecordRetriever
from retrievers.facts import Fact
from skills.base import SkillContext, SkillRequest, SkillResult
from skills.compose import compose, result_from
from skills.grounding import article_chunks, doc_id, kb_search, sections_with_sources
from skills.promise_guard import guard
from skills.troubleshoot import pick_article

TEMPLATE = "reply_suggestion"
TEMPLATE_VERSION = "2"
CUSTOMER_STEPS = 2
FRIENDLY_CHANNELS = ("微信", "企业微信", "wecom", "wechat", "app")
STATUS_WORDS = {
    "new": ("已受理", "received"),
    "in_progress": ("处理中", "in progress"),
    "pending_customer": ("等待您确认", "waiting for your confirmation"),
    "resolved": ("已解决", "resolved"),
    "closed": ("已关闭", "closed"),
}
_ETIQUETTE = re.compile(r"礼仪|话术|etiquette|reply guideline", re.IGNORECASE)
_CJK = re.compile(r"[\u4e00-\u9fff]")


def customer_language(text: str) -> str:
    """zh when the customer wrote Chinese characters, en when they wrote Latin words only."""
    if _CJK.search(text):
        return "zh"
    return "en" if re.search(r"[A-Za-z]{2,}", text) else "zh"


def salutation(name: str, lang: str, register: str) -> str:
    """王建华 → 王工 (the etiquette SOP's form of address); English: the first name."""
    if not name:
        return ""
    if lang == "zh":
        return f"{name[0]}工" if _CJK.match(name) else name
    first = name.split()[0]
    return first if register == "friendly" else name


def run(request: SkillRequest, ctx: SkillContext) -> SkillResult:
    if request.context is None or request.context.object_type != "ticket":
        raise BadRequest("reply_suggestion works on a ticket page: give context {object_type: ticket, object_id}")
    retriever = RecordRetriever(ctx.records, ctx.locale)
    with ctx.timed("retrieval"):
        bundle = retriever.bundle("ticket", request.context.object_id)
        messages = [m for m in retriever.ticket_messages(bundle.record.id) if m.author_kind in ("customer", "agent")]
    ticket = bundle.record
    last_customer = next((m.body for m in reversed(messages) if m.author_kind == "customer"), ticket.description)
    lang = customer_language(last_customer)
    tone = str(request.input.get("tone") or "")
    register = tone or ("friendly" if any(c in (ticket.channel or "").lower() for c in FRIENDLY_CHANNELS) else "formal")

    fields = bundle.main.meta.get("fields") or {}
    contact = next((f for f in bundle.related if f.meta.get("object_type") == "contact"), None)
    device = next((f for f in bundle.related if f.meta.get("object_type") == "device"), None)
    product = next((f for f in bundle.related if f.meta.get("object_type") == "product"), None)
    assignee = retriever.user_name(fields.get("assignee_id"))
    code = (product.meta.get("fields") or {}).get("code") if product else None
    status_word = STATUS_WORDS.get(str(fields.get("status")), (str(fields.get("status")), str(fields.get("status"))))

    # KB: the etiquette SOP (how to write) and the article for this alarm (what the customer can check).
    sop = [f for f in kb_search(ctx, "客户消息回复礼仪与话术规范", k=4) if _ETIQUETTE.search(f.title)][:1]
    steps: list[dict[str, str]] = []
    kb_used: list[Fact] = list(sop)
    if fields.get("error_code"):
        query = " ".join(x for x in (code, fields.get("error_code"), ticket.subject) if x)
        article = pick_article(kb_search(ctx, query, k=8), code, str(fields["error_code"]))
        article = article_chunks(ctx, article, query)
        # Steps are quoted to the customer verbatim: only from an article in the customer's language.
        if article and str(article[0].meta.get("lang") or lang) != lang:
            article = []
        for text, src in sections_with_sources(article).get("steps", [])[:CUSTOMER_STEPS]:
            steps.append({"text": text, "id": src.id})
            kb_used.append(src)

    zh = lang == "zh"
    facts = [bundle.main, *(f for f in (device, contact) if f is not None)]
    variables = {
        "conversation": [{"role": m.author_kind, "text": m.body} for m in messages[-6:]],
        "ticket_facts": [{"id": f.id, "label": f.title, "text": f.text} for f in facts],
        "snippets": [{"id": f.id, "title": f.title, "text": f.text} for f in sop],
        "customer_language": lang,
        "customer_name": salutation(
            (contact.meta.get("fields") or {}).get("name", "") if contact else "", lang, register
        ),
        "register": register,
        "ticket_number": str(fields.get("number", "")),
        "status": status_word[0 if zh else 1],
        "process_node": str(fields.get("process_node") or ""),
        "assignee": assignee or "",
        "device": (device.meta.get("fields") or {}).get("serial", "") if device else "",
        "product": code or "",
        "error_code": str(fields.get("error_code") or ""),
        "steps": steps,
        "source_ids": [f.id for f in [*facts, *kb_used]],
    }
    # The reply goes out in the customer's language, whatever the agent's own locale is.
    ctx_locale, ctx.locale = ctx.locale, lang  # type: ignore[assignment]
    try:
        composed = compose(ctx, TEMPLATE, variables, [*facts, *kb_used], version=TEMPLATE_VERSION)
    finally:
        ctx.locale = ctx_locale  # type: ignore[assignment]

    # What a reply may repeat: the records and the steps quoted. Not the etiquette SOP: its example
    # phrases ("今天 16:00 前", "免费") are wording advice, not facts about this ticket.
    grounding = (
        "\n".join([*(f.text for f in facts), *(s["text"] for s in steps)])
        + "\n"
        + " ".join(v for v in (assignee or "", str(fields.get("number", ""))) if v)
    )
    checked = guard(composed.text, grounding, lang)
    composed.text = checked.text
    result = result_from(
        ctx,
        "reply_suggestion",
        composed,
        [*facts, *kb_used],
        data={
            "language": lang,
            "register": register,
            "sources": sorted({doc_id(f) for f in kb_used}),
            "guard": {"removed": checked.removed, "hits": checked.hits},
        },
    )
    if checked.removed:
        result.warnings.append("unsupported_promises_removed")
    return result
