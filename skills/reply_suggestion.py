"""reply_suggestion: a draft reply to the ticket's customer, in their language and register, saying what
the agent asked it to say.

Grounded in the ticket (status, process node, assignee), the device and KB articles (the reply
etiquette SOP, and the troubleshooting article for the ticket's alarm, whose first safe steps the
customer can try). The agent's words are the instruction (skills.instructions): the language, tone and
length asked for, and the plan they state ("告诉他工程师明天上午上门") goes into the reply as the service
team's plan. Steps the customer already did (the thread says so) are not asked again. A follow-up in
the same conversation ("更正式一点", "shorter", "in English", "换个开头") refines the previous draft.
Internal notes never reach the draft. Whatever wrote the draft, the promise guard then removes dates,
times, prices and guarantees that neither the records nor the agent's own statement hold.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from copilot.core.errors import BadRequest
from copilot.core.locale import detect_locale, has_cjk
from retrievers.crm_records import RecordRetriever
from retrievers.facts import Fact
from skills.base import Action, PriorTurn, ProposedWrite, SkillContext, SkillRequest, SkillResult
from skills.compose import compose, result_from
from skills.grounding import article_chunks, doc_id, kb_search, sections_with_sources
from skills.instructions import Instructions, char_count, checks_done, read_instructions, trim_to, word_count
from skills.plan_phrases import render_plan
from skills.promise_guard import guard
from skills.troubleshoot import pick_article

TEMPLATE = "reply_suggestion"
TEMPLATE_VERSION = "3"
CUSTOMER_STEPS = 2
MAX_VARIANTS = 3
HISTORY_TURNS = 4
FRIENDLY_CHANNELS = ("微信", "企业微信", "wecom", "wechat", "app")
TONE_REGISTER = {"formal": "formal", "casual": "friendly", "warm": "friendly"}
STATUS_WORDS = {
    "new": ("已受理", "received"),
    "in_progress": ("处理中", "in progress"),
    "pending_customer": ("等待您确认", "waiting for your confirmation"),
    "resolved": ("已解决", "resolved"),
    "closed": ("已关闭", "closed"),
}
CUES_PATH = Path(__file__).parent / "vocab" / "reply_cues.yaml"
NOTE_HEAD = {"zh": "【给坐席的说明】", "en": "[Note for the agent]"}
_ETIQUETTE = re.compile(r"礼仪|话术|etiquette|reply guideline", re.IGNORECASE)


def customer_language(text: str) -> str:
    """zh when the customer wrote Chinese characters, en when they wrote Latin words only (the one
    detector, copilot.core.locale)."""
    return detect_locale(text, "zh")


def salutation(name: str, lang: str, register: str) -> str:
    """王建华 → 王工 (the etiquette SOP's form of address); English: the first name."""
    if not name:
        return ""
    if lang == "zh":
        return f"{name[0]}工" if has_cjk(name[0]) else name
    first = name.split()[0]
    return first if register == "friendly" else name


def previous_turn(request: SkillRequest) -> PriorTurn | None:
    """The last earlier reply on this same ticket: what a follow-up refines."""
    for turn in reversed(request.history):
        same_page = turn.context is None or request.context is None or turn.context == request.context
        if turn.skill == "reply_suggestion" and same_page and turn.answer:
            return turn
    return None


@lru_cache(maxsize=1)
def _cues() -> list[dict[str, Any]]:
    return list(yaml.safe_load(CUES_PATH.read_text(encoding="utf-8"))["cues"])


def answer_lines(last_customer: str, stated: list[str]) -> list[dict[str, str]]:
    """Lines answering what the customer's last message asks or says, for cues the agent's own words do
    not already answer (a stated visit time answers "几点到"). Both languages; the template picks one."""
    low = last_customer.lower()
    said = " ".join(stated).lower()
    out = []
    for cue in _cues():
        if any(w in low for w in cue["words"]) and not any(w in said for w in cue["words"]):
            if cue["name"] == "asks_time" and re.search(r"\d|明天|后天|今天|下午|上午|tomorrow|today", said):
                continue  # the agent stated when
            out.append({"name": cue["name"], "zh": cue["zh"], "en": cue["en"]})
    return out[:2]


def _bigrams(text: str) -> set[str]:
    flat = re.sub(r"\s+", "", text.lower())
    return {flat[i : i + 2] for i in range(len(flat) - 1)}


def _already_given(step: str, agent_texts: list[str]) -> bool:
    """The agent already sent this step in the thread (most of its wording is in one agent message)."""
    grams = _bigrams(step)
    return bool(grams) and any(len(grams & _bigrams(t)) / len(grams) >= 0.5 for t in agent_texts)


def _register(request: SkillRequest, now: Instructions, inst: Instructions, channel: str) -> str:
    """The input field, else what this turn's words ask, else what earlier turns asked, else the channel's."""
    tone = str(request.input.get("tone") or "")
    if tone:
        return tone
    for said in (now, inst):
        if said.shorter or (said.max_chars is not None and said.max_chars <= 120):
            return "concise"
        if said.tone:
            return TONE_REGISTER.get(said.tone, "formal")
    return "friendly" if any(c in channel.lower() for c in FRIENDLY_CHANNELS) else "formal"


def run(request: SkillRequest, ctx: SkillContext) -> SkillResult:
    if request.context is None or request.context.object_type != "ticket":
        raise BadRequest("reply_suggestion works on a ticket page: give context {object_type: ticket, object_id}")
    with ctx.timed("retrieval"):
        ticket = ctx.records.get("ticket", request.context.object_id)
        messages = [
            m
            for m in RecordRetriever(ctx.records, ctx.locale).ticket_messages(ticket.id)
            if m.author_kind in ("customer", "agent")
        ]

    # What the agent asks this turn, on top of what they asked earlier in the conversation.
    prior = previous_turn(request)
    now = read_instructions(request.message, ctx.locale)
    inst = now.over(prior.data.get("instructions")) if prior is not None else now
    last_customer = next((m.body for m in reversed(messages) if m.author_kind == "customer"), ticket.description)
    # A limit in words is an English measure (Chinese is counted in characters): the agent wants English.
    lang = str(
        request.input.get("language")
        or inst.language
        or ("en" if inst.max_words else None)
        or customer_language(last_customer)
    )
    # The agent's plan in the reply's language: from the phrase table when written in the other one; what the
    # table cannot say stays as written, and the agent is told (never a silent mix of languages).
    rendered = [render_plan(x, lang) for x in inst.stated]
    stated = [r if r is not None else x for r, x in zip(rendered, inst.stated, strict=True)]
    untranslated = [x for r, x in zip(rendered, inst.stated, strict=True) if r is None]
    register = _register(request, now, inst, ticket.channel or "")
    # Record values (status, process node) are shown in the reply's language, not the agent's.
    retriever = RecordRetriever(ctx.records, lang)
    with ctx.timed("retrieval"):
        bundle = retriever.bundle("ticket", ticket.id)
    opening = int((prior.data.get("opening", 0) + 1) if (prior is not None and inst.rephrase) else 0)

    fields = bundle.main.meta.get("fields") or {}
    contact = next((f for f in bundle.related if f.meta.get("object_type") == "contact"), None)
    device = next((f for f in bundle.related if f.meta.get("object_type") == "device"), None)
    product = next((f for f in bundle.related if f.meta.get("object_type") == "product"), None)
    assignee = retriever.user_name(fields.get("assignee_id"))
    code = (product.meta.get("fields") or {}).get("code") if product else None
    status_word = STATUS_WORDS.get(str(fields.get("status")), (str(fields.get("status")), str(fields.get("status"))))

    # The thread: did the customer say they did the checks? Which steps did the agent already send?
    customer_texts = [m.body for m in messages if m.author_kind == "customer"]
    agent_texts = [m.body for m in messages if m.author_kind == "agent"]
    acknowledge = any(checks_done(t) for t in customer_texts[-2:])
    responses = answer_lines(customer_texts[-1] if customer_texts else "", stated)
    # "已经恢复正常了，谢谢": nothing left for the customer to check.
    resolved = any(r["name"] == "resolved_thanks" for r in responses)

    # KB: the etiquette SOP (how to write) and the article for this alarm (what the customer can check).
    sop = [f for f in kb_search(ctx, "客户消息回复礼仪与话术规范", k=4) if _ETIQUETTE.search(f.title)][:1]
    steps: list[dict[str, str]] = []
    skipped_steps: list[str] = []
    kb_used: list[Fact] = list(sop)
    if fields.get("error_code"):
        query = " ".join(x for x in (code, fields.get("error_code"), ticket.subject) if x)
        article = pick_article(kb_search(ctx, query, k=8), code, str(fields["error_code"]))
        article = article_chunks(ctx, article, query)
        # Steps are quoted to the customer verbatim: only from an article in the reply's language.
        if article and str(article[0].meta.get("lang") or lang) != lang:
            article = []
        for text, src in sections_with_sources(article).get("steps", []):
            if len(steps) >= CUSTOMER_STEPS or len(skipped_steps) >= CUSTOMER_STEPS:
                break
            if acknowledge or resolved or _already_given(text, agent_texts):
                skipped_steps.append(text)  # the thread shows it was asked (and done): never ask again
                continue
            steps.append({"text": text, "id": src.id})
            kb_used.append(src)

    zh = lang == "zh"
    facts = [bundle.main, *(f for f in (device, contact) if f is not None)]
    history = [{"message": t.message, "answer": t.answer} for t in request.history[-HISTORY_TURNS:] if t.answer]
    count = min(inst.count or 1, MAX_VARIANTS)
    if prior is not None and now.ordinal is not None:
        # "第二个版本再正式一点": that one variant of the previous answer, refined — its opening kept.
        opening = int(prior.data.get("opening", 0)) + (now.ordinal - 1 if now.ordinal > 0 else count - 1)
        count = 1
    variables: dict[str, Any] = {
        "request": request.message,
        "stated": stated,
        "history": history,
        "previous_answer": prior.answer if prior is not None else "",
        "instructions": inst.as_data(),
        "acknowledge": acknowledge,
        "responses": [r[lang] if lang in r else r["zh"] for r in responses],
        "opening": opening,
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
    # The reply goes out in the reply's language, whatever the agent's own locale is.
    ctx_locale, ctx.locale = ctx.locale, lang  # type: ignore[assignment]
    try:
        composed = compose(ctx, TEMPLATE, variables, [*facts, *kb_used], version=TEMPLATE_VERSION)
        if composed.provider == "offline" and count > 1:
            # Offline, several variants differ in their opening wording; a model writes them in one call.
            texts = [composed.text]
            for i in range(1, count):
                more = dict(variables, opening=opening + i, variant_label="")
                texts.append(compose(ctx, TEMPLATE, more, [*facts, *kb_used], version=TEMPLATE_VERSION).text)
            label = "版本 {}：\n" if zh else "Variant {}:\n"
            composed.text = "\n\n".join(label.format(i + 1) + t for i, t in enumerate(texts))
    finally:
        ctx.locale = ctx_locale  # type: ignore[assignment]

    # What a reply may repeat: the records and the steps quoted, and what the agent stated themselves.
    # Not the etiquette SOP: its example phrases ("今天 16:00 前", "免费") are wording advice, not facts.
    grounding = (
        "\n".join([*(f.text for f in facts), *(s["text"] for s in steps)])
        + "\n"
        + " ".join(v for v in (assignee or "", str(fields.get("number", ""))) if v)
    )
    checked = guard(composed.text, grounding, lang, stated=[*inst.stated, *stated])
    text = checked.text
    if inst.max_words and word_count(text) > inst.max_words:
        text = fit_words(text, inst.max_words, stated)
    if inst.max_chars and char_count(text) > inst.max_chars:
        text = trim_to(text, inst.max_chars)
    offline_quoted = untranslated if composed.provider == "offline" else []  # a model writes the plan itself
    notes = _notes(inst, checked.hits, skipped_steps, acknowledge, lang, offline_quoted)
    if inst.max_words and word_count(text) > inst.max_words:
        notes.append(
            f"草稿去掉可选内容后仍超过 {inst.max_words} 个词。"
            if lang == "zh"
            else f"Even without the optional lines the draft is over {inst.max_words} words."
        )
    composed.text = text + (f"\n\n{NOTE_HEAD[lang]}\n" + "\n".join(f"- {n}" for n in notes) if notes else "")
    # The draft as an action the agent may edit and send: posted on the ticket only when they confirm.
    agent_zh = ctx.locale == "zh"
    send = Action(
        kind="ticket_reply",
        title=("回复客户：" if agent_zh else "Reply to the customer: ") + str(fields.get("number", "")),
        draft=text,
        channel=ticket.channel,
        confirm=ProposedWrite(operation="post_reply", object_type="ticket", object_id=ticket.id,
                              label="发送回复" if agent_zh else "Send the reply"),
    )
    result = result_from(
        ctx,
        "reply_suggestion",
        composed,
        [*facts, *kb_used],
        actions=[send],
        data={
            "language": lang,
            "register": register,
            "draft": text,
            "instructions": inst.as_data(),
            "opening": opening,
            "stated": list(inst.stated),  # the agent's words (a follow-up carries them over)
            "said": stated,  # the same plan as the reply says it, in the reply's language
            "skipped_steps": skipped_steps,
            "notes": notes,
            "sources": sorted({doc_id(f) for f in kb_used}),
            "guard": {"removed": checked.removed, "hits": checked.hits},
        },
    )
    if checked.removed:
        result.warnings.append("unsupported_promises_removed")
    if inst.unmet:
        result.warnings.extend(f"instruction_not_followed:{u}" for u in inst.unmet)
    return result


KIND_WORDS = {
    "relative_day": ("日期", "a day"),
    "date": ("日期", "a date"),
    "time": ("时间", "a time"),
    "amount": ("金额", "an amount"),
    "promise": ("服务承诺", "a service promise"),
}


def fit_words(text: str, limit: int, keep: list[str]) -> str:
    """The draft within ``limit`` words by dropping whole optional lines, last first (the closing, then the
    status line, the steps, the answers to the customer): never the greeting or a line saying the agent's
    plan. Lines are never cut mid-sentence."""
    lines = text.split("\n")
    protected = {0} | {i for i, ln in enumerate(lines) if any(k and k.rstrip("。.!?？") in ln for k in keep)}
    for i in range(len(lines) - 1, 0, -1):
        if word_count("\n".join(lines)) <= limit:
            break
        if i not in protected and lines[i].strip():
            lines[i] = ""
    return "\n".join(ln for ln in lines if ln.strip())


def _notes(
    inst: Instructions,
    hits: list[dict[str, str]],
    skipped: list[str],
    ack: bool,
    lang: str,
    untranslated: list[str] | None = None,
) -> list[str]:
    """What the draft did not do that the agent might expect, and why — said to the agent, not the customer.
    Removed promises are named by kind, not quoted: a note the agent copies must not carry them back."""
    zh = lang == "zh"
    notes: list[str] = []
    kinds = list(dict.fromkeys(h["kind"] for h in hits))
    if kinds:
        words = "、".join(KIND_WORDS.get(k, (k, k))[0] for k in kinds)
        words_en = ", ".join(KIND_WORDS.get(k, (k, k))[1] for k in kinds)
        notes.append(
            f"草稿里有工单记录和您的要求都没有依据的{words}，已删去：请确认后再告知客户。"
            if zh
            else f"Removed {words_en} that neither the records nor your request hold: confirm it first."
        )
    if skipped and ack:
        notes.append(
            "客户已说明按建议做过检查，草稿没有再要求重做。"
            if zh
            else "The customer says they did the suggested checks; the draft does not ask again."
        )
    if untranslated:
        notes.append(
            "您的计划是用英文写的，草稿按原文引用（离线写作无法翻译）：发出前请改成中文。"
            if zh
            else "Your plan is quoted as you wrote it (in Chinese): the offline writer could not translate it;"
            " put it in English before sending."
        )
    if inst.count and inst.count > MAX_VARIANTS:
        notes.append(f"最多写 {MAX_VARIANTS} 个版本。" if zh else f"At most {MAX_VARIANTS} variants.")
    return notes
