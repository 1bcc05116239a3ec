"""marketing_copy: campaign copy per channel, with product claims only from the KB and the product record.

Claims are the product sheet's features and specifications (KB, cited by chunk) and the product
record's spec (CRM). Offline, drafts are assembled from those claims per channel; with a model, the
model returns the same structure as JSON. Either way every text field then passes the ad-law check
(skills.compliance, rules read from the brand guides) and the SMS hard limit of 70 characters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from copilot.core.errors import BadRequest
from copilot.crm.models import Product
from retrievers.crm_records import RecordRetriever, record_fact
from retrievers.facts import Fact
from skills import compliance
from skills.base import SkillContext, SkillRequest, SkillResult, load_specs
from skills.compose import compose, result_from
from skills.grounding import article_chunks, doc_id, group_by_doc, kb_search, meta_list, sections_with_sources

TEMPLATE = "marketing_copy"
TEMPLATE_VERSION = "2"
SMS_LIMIT = 70
CLAIMS_BY_LENGTH = {"short": 1, "medium": 2, "long": 4}
LENGTH_CHARS = {"short": 60, "medium": 120, "long": 300}
CHANNEL_FIELDS: dict[str, tuple[str, ...]] = {
    "wecom": ("body",),
    "moments": ("body",),
    "email": ("subject", "body"),
    "sms": ("body",),
    "poster": ("headline", "sub", "cta"),
    "article": ("title", "keywords", "description", "body"),
}
OUTPUT_SCHEMA: dict[str, Any] = {
    "title": "copy_variants",
    "type": "object",
    "properties": {
        "variants": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    k: {"type": "string"}
                    for k in ("subject", "headline", "sub", "cta", "title", "keywords", "description", "body")
                },
            },
        }
    },
    "required": ["variants"],
}


@dataclass
class Claim:
    text: str
    fact: Fact


# What a marketer types instead of filling the form: "写一条企业微信消息推广 LC-3015", "3 SMS variants".
CHANNEL_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("sms", ("短信", "sms", "text message")),
    ("moments", ("朋友圈", "moments")),
    ("email", ("邮件", "email", "e-mail", "mail")),
    ("poster", ("海报", "poster")),
    ("article", ("文章", "公众号", "软文", "article", "blog")),
    ("wecom", ("企业微信", "企微", "群发", "wecom")),
)
_COUNT = re.compile(r"(\d|[一二两三四五])\s*(?:[a-z]+\s+)?(条|个|版|种|款|variants?|versions?|options?)", re.IGNORECASE)
# "写一条短信，给我两个版本": the number counting 版本/variants is the count of variants, not "一条".
_VARIANT_UNITS = ("版", "种", "款", "variant", "version", "option")
_CN_DIGITS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5}


def understood_from_message(message: str, product_codes: list[str]) -> dict[str, Any]:
    """Form fields a message states in words; the explicit input always wins over these."""
    lowered = message.lower()
    found: dict[str, Any] = {}
    for channel, words in CHANNEL_WORDS:
        if any(w in lowered for w in words):
            found["channel"] = channel
            break
    for code in sorted(product_codes, key=len, reverse=True):
        if code.lower() in lowered:
            found["product"] = code
            break
    counts = list(_COUNT.finditer(message))
    preferred = [m for m in counts if _counts_variants(m, message)]
    if chosen := (preferred or counts):
        raw = chosen[0].group(1)
        found["variants"] = max(1, min(5, int(raw) if raw.isdigit() else _CN_DIGITS[raw]))
    if re.search(r"英文|英语|in english", lowered):
        found["language"] = "en"
    elif re.search(r"中文|in chinese", lowered):
        found["language"] = "zh"
    return found


def _counts_variants(match: re.Match[str], message: str) -> bool:
    unit = match.group(2).lower()
    return unit.startswith(_VARIANT_UNITS) or (unit == "个" and message[match.end(2) : match.end(2) + 1] == "版")


def _product(ctx: SkillContext, request: SkillRequest, campaign_product: int | None) -> Product | None:
    code = request.input.get("product")
    if code:
        row = ctx.records.first("product", Product.code == str(code).upper())
        if row is None:
            raise BadRequest(f"unknown product code {code!r}")
        return row
    if request.context is not None and request.context.object_type == "product":
        return ctx.records.find("product", request.context.object_id)  # type: ignore[no-any-return]
    if campaign_product:
        return ctx.records.find("product", campaign_product)  # type: ignore[no-any-return]
    return None


def _claims(ctx: SkillContext, product: Product, lang: str) -> list[Claim]:
    """Feature and spec lines of the product's sheet; the sheet in the copy's language when there is one."""
    # The model code is the exact token every product sheet carries; the name adds recall in the copy's language.
    name = product.name if lang == "zh" else product.name_en
    hits = kb_search(ctx, f"{product.code} {name}", k=10)
    sheets = [
        facts
        for facts in group_by_doc(hits).values()
        if product.code in {p.upper() for p in meta_list(facts[0], "products")} and _is_sheet(facts[0])
    ]
    sheets.sort(key=lambda fs: 0 if fs[0].meta.get("lang") == lang else 1)
    if not sheets:
        return []
    chunks = article_chunks(ctx, sheets[0], f"{product.code} features specifications")
    sections = sections_with_sources(chunks)
    claims = [Claim(text.rstrip("。."), src) for text, src in sections.get("features", [])]
    claims += [Claim(text, src) for text, src in sections.get("specs", [])[:4]]
    return claims


_SHEET_TITLE = re.compile(r"产品说明|产品介绍|product sheet|datasheet", re.IGNORECASE)


def _is_sheet(fact: Fact) -> bool:
    """A product sheet: by doc_type where the index reports it, else by its title."""
    kind = fact.meta.get("doc_type")
    return kind == "product_sheet" if kind else bool(_SHEET_TITLE.search(fact.title))


def _pick(claims: list[Claim], i: int, n: int) -> list[Claim]:
    if not claims:
        return []
    start = (i * n) % len(claims)
    rotated = claims[start:] + claims[:start]
    return rotated[:n]


def _draft(channel: str, i: int, ctx_vars: dict[str, Any], picked: list[Claim], zh: bool) -> dict[str, str]:
    """One variant, assembled from the picked claims; wording only, no new facts."""
    name = ctx_vars["product_name"]
    audience = ctx_vars["audience"]
    camp = ctx_vars["campaign"]
    claim_txt = ("；" if zh else "; ").join(c.text for c in picked)
    event = ""
    if camp:
        event = f"{camp['name']}（{camp['start_date']}）" if zh else f"{camp['name']} ({camp['start_date']})"
    openers_zh = [f"{audience}您好！", f"致{audience}：", f"各位{audience}："]
    openers_en = [f"Hello {audience},", f"Dear {audience},", f"To our {audience}:"]
    opener = (openers_zh if zh else openers_en)[i % 3]
    cta = "欢迎回复咨询或预约演示。" if zh else "Reply to ask a question or book a demo."
    if channel == "sms":
        brand = "【星衡智能】" if zh else "[Xingheng] "
        first = picked[0].text if picked else ""
        tail = "回T退订" if zh else "Reply T to opt out"
        core = f"{brand}{name}：{first}" if zh else f"{brand}{name}: {first}"
        if event:
            core += f"。{camp['name']}" if zh else f". {camp['name']}"
        return {"body": fit_sms(core, tail)}
    if channel == "poster":
        return {
            "headline": f"{name}" + (f" · {picked[0].text.split('：')[0]}" if picked else ""),
            "sub": claim_txt or (event or name),
            "cta": ("立即报名" if camp else "预约演示") if zh else ("Register now" if camp else "Book a demo"),
        }
    if channel == "email":
        subject = (
            f"{event or name}：为{audience}准备的产品介绍" if zh else f"{event or name}: an introduction for {audience}"
        )
        lines = [opener, ""]
        lines.append(
            f"感谢您一直以来对星衡智能的关注。{name}的主要特点："
            if zh
            else f"Thank you for your interest in Xingheng. Key points of the {name}:"
        )
        lines += [f"- {c.text}" for c in picked]
        if event:
            lines += ["", f"我们将举办{event}，诚邀您参加。" if zh else f"We would like to invite you to {event}."]
        lines += ["", cta, "", "星衡智能市场部" if zh else "Kind regards,\nXingheng Marketing"]
        return {"subject": subject, "body": "\n".join(lines)}
    if channel == "article":
        title = (
            f"{name}：{picked[0].text.split('：')[0]}"
            if picked and zh
            else (f"{name}: {picked[0].text.split(':')[0]}" if picked else name)
        )
        keywords = ", ".join(
            dict.fromkeys([ctx_vars["product_code"], *(c.text.split("：")[0].split(":")[0][:12] for c in picked[:3])])
        )
        desc = (
            f"本文介绍{name}的{len(picked)}个要点，适合{audience}了解选型。"
            if zh
            else f"{len(picked)} points about the {name} for {audience}."
        )
        paras = [f"{name}" + ("面向" + audience + "。" if zh else f" for {audience}.")]
        paras += [f"{c.text}。" if zh else f"{c.text}." for c in picked]
        if event:
            paras.append(f"欢迎参加{event}，现场了解更多。" if zh else f"Join us at {event} to see it in person.")
        return {"title": title, "keywords": keywords, "description": desc, "body": "\n\n".join(paras)}
    # wecom and moments: short, friendly, one block
    body = f"{opener}{name}：{claim_txt}。" if zh else f"{opener} the {name}: {claim_txt}."
    if event:
        body += f" {event}，欢迎报名。" if zh else f" Join us at {event}."
    if channel == "wecom":
        body += " " + cta
    return {"body": body.strip()}


def fit_sms(core: str, tail: str, limit: int = SMS_LIMIT) -> str:
    """At most ``limit`` characters (Python counts characters, not bytes): trim the claim, keep the opt-out."""
    sep = "，"
    text = f"{core}{sep}{tail}"
    if len(text) <= limit:
        return text
    room = limit - len(tail) - len(sep) - 1
    return f"{core[:room]}…{sep}{tail}"


def _enforce(variant: dict[str, str], channel: str) -> tuple[dict[str, str], dict[str, list[dict[str, str]]]]:
    """Ad-law rewrite of every field, then the SMS hard limit (after rewriting: a rewrite can lengthen)."""
    rewritten: list[dict[str, str]] = []
    flagged: list[dict[str, str]] = []
    out = {}
    for key, value in variant.items():
        if not isinstance(value, str):
            continue
        report = compliance.check(value)
        rewritten += report.rewritten
        flagged += report.flagged
        out[key] = report.text
    if channel == "sms" and len(out.get("body", "")) > SMS_LIMIT:
        out["body"] = out["body"][: SMS_LIMIT - 1] + "…"
    return out, {"rewritten": rewritten, "flagged": flagged}


def format_variant(i: int, variant: dict[str, str], channel: str, zh: bool) -> str:
    labels = {
        "subject": ("主题", "Subject"),
        "headline": ("主标题", "Headline"),
        "sub": ("副标题", "Subheading"),
        "cta": ("行动号召", "Call to action"),
        "title": ("标题", "Title"),
        "keywords": ("关键词", "Keywords"),
        "description": ("摘要", "Description"),
        "body": ("正文", "Body"),
    }
    head = f"版本 {i + 1}：" if zh else f"Variant {i + 1}:"
    lines = [head]
    for key in CHANNEL_FIELDS[channel]:
        if variant.get(key):
            lines.append(f"{labels[key][0 if zh else 1]}{'：' if zh else ': '}{variant[key]}")
    return "\n".join(lines)


def run(request: SkillRequest, ctx: SkillContext) -> SkillResult:
    load_specs()["marketing_copy"].check_allowed(ctx.principal)  # marketers only, also off the assistant path
    codes = [str(code) for (code,) in ctx.records.rows("product", Product.code)]
    inp = understood_from_message(request.message, codes) | dict(request.input)
    request = request.model_copy(update={"input": inp})
    lang = str(inp.get("language") or ctx.locale)
    zh = lang == "zh"
    channel = str(inp.get("channel") or "wecom")
    n_variants = int(inp.get("variants") or 1)
    length = str(inp.get("length") or "medium")
    retriever = RecordRetriever(ctx.records, ctx.locale)

    campaign_id = inp.get("campaign_id") or (
        request.context.object_id if request.context and request.context.object_type == "campaign" else None
    )
    crm_facts: list[Fact] = []
    campaign: dict[str, Any] = {}
    campaign_product = None
    with ctx.timed("retrieval"):
        if campaign_id:
            bundle = retriever.bundle("campaign", int(campaign_id))
            f = bundle.main.meta["fields"]
            campaign = {
                "name": f.get("name"),
                "kind": f.get("kind"),
                "start_date": str(f.get("start_date")),
                "end_date": str(f.get("end_date")),
                "id": bundle.main.id,
            }
            campaign_product = bundle.record.product_id
            crm_facts.append(bundle.main)
        product = _product(ctx, request, campaign_product)
        if product is not None:
            crm_facts.append(record_fact(ctx.principal, "product", product, ctx.locale))
    if product is None and not campaign:
        raise BadRequest(
            "marketing_copy needs a product (input.product) or a campaign (input.campaign_id or a campaign page)"
        )

    claims = _claims(ctx, product, lang) if product is not None else []
    if product is not None and not claims and product.spec:
        claims = [Claim(product.spec, crm_facts[-1])]  # no sheet visible: the record's spec is still a fact
    audience = str(inp.get("audience") or ("客户" if zh else "customers"))
    product_name = (product.name if zh else product.name_en) if product is not None else ""
    ctx_vars = {
        "product_name": product_name,
        "product_code": product.code if product else "",
        "audience": audience,
        "campaign": campaign,
    }
    per = CLAIMS_BY_LENGTH.get(length, 2)
    picked = [_pick(claims, i, per) for i in range(n_variants)]
    drafts = [_draft(channel, i, ctx_vars, picked[i], zh) for i in range(n_variants)]
    checked = [_enforce(d, channel) for d in drafts]
    drafts = [d for d, _ in checked]

    used_claims = [c for p in picked for c in p]
    cited = [*crm_facts, *(c.fact for c in used_claims)]
    variables = {
        "channel": channel,
        "audience": audience,
        "product_name": product_name,
        "product_facts": [{"id": c.fact.id, "label": product_name, "text": c.text} for c in claims],
        "campaign": campaign,
        "tone": str(inp.get("tone") or ("专业" if zh else "professional")),
        "length": LENGTH_CHARS.get(length, 120),  # v1 declares an int (characters per variant)
        "length_hint": length,
        "language": lang,
        "banned_terms": compliance.banned_terms(),
        "variants": n_variants,
        "fields": list(CHANNEL_FIELDS[channel]),
        "drafts": [format_variant(i, d, channel, zh) for i, d in enumerate(drafts)],
        "sms_limit": SMS_LIMIT,
    }
    composed = compose(ctx, TEMPLATE, variables, cited, json_schema=OUTPUT_SCHEMA, version=TEMPLATE_VERSION)

    variants = drafts
    report: dict[str, list[dict[str, str]]] = {"rewritten": [], "flagged": []}
    if composed.provider != "offline" and not composed.degraded:
        parsed = composed.parsed if isinstance(composed.parsed, dict) else None
        raw = (parsed or {}).get("variants") or [{"body": composed.text}]
        model_checked = [_enforce({k: str(v) for k, v in dict(r).items() if v}, channel) for r in raw[:n_variants]]
        variants = [v for v, _ in model_checked]
        for _, rep in model_checked:
            report["rewritten"] += rep["rewritten"]
            report["flagged"] += rep["flagged"]
        answer = "\n\n".join(format_variant(i, v, channel, zh) for i, v in enumerate(variants))
    else:
        for _, rep in checked:
            report["rewritten"] += rep["rewritten"]
            report["flagged"] += rep["flagged"]
        answer = composed.text
    final = compliance.check(answer)  # last guard on the whole answer, whatever produced it
    if final.rewritten:
        report["rewritten"] += final.rewritten
        report["flagged"] += final.flagged
    composed.text = final.text
    result = result_from(
        ctx,
        "marketing_copy",
        composed,
        cited,
        data={
            "channel": channel,
            "language": lang,
            "variants": variants,
            "compliance": report,
            "sources": sorted({doc_id(c.fact) for c in used_claims if c.fact.type == "kb"}),
        },
    )
    if report["flagged"]:
        result.warnings.append("compliance_review_needed")
    return result
