"""marketing_copy: campaign copy per channel, with product claims only from the KB and the product record,
written the way the marketer asked.

Claims are the product sheet's features and specifications (KB, cited by chunk) and the product
record's spec (CRM). The marketer's words are read by skills.instructions: language, how many variants
(distinct, not copies), which channels (one set of variants per channel), a length limit counted the way
a Chinese marketer counts ("70字以内": every character, punctuation included), the audience and the tone.
The campaign's dates are read against today (the business clock): an event that is over is never
advertised as upcoming. Offline, drafts are assembled from the claims; with a model, the model gets the
same request, thread and facts and returns the same structure as JSON. Either way every text field then
passes the ad-law check (skills.compliance, rules read from the brand guides), the length limit, and the
SMS hard limit of 70 characters, and the answer says what was not done and why (a banned term the
marketer typed, an event already over, a limit that cut a claim).

Without a product or campaign the skill asks which one (skills.base.NeedsChoice), with the candidates
closest to the words first. A question about a product's price is answered from the product record.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from copilot.core.errors import BadRequest
from copilot.crm.models import Campaign, Product
from retrievers.crm_records import RecordRetriever, record_fact
from retrievers.facts import Fact
from skills import compliance
from skills.base import (
    Choice,
    NeedsChoice,
    PageContext,
    PriorTurn,
    SkillContext,
    SkillRequest,
    SkillResult,
    citation_for,
    load_specs,
)
from skills.compose import compose, result_from
from skills.grounding import article_chunks, doc_id, group_by_doc, kb_search, meta_list, sections_with_sources
from skills.instructions import Instructions, char_count, read_instructions, trim_to

TEMPLATE = "marketing_copy"
TEMPLATE_VERSION = "3"
SMS_LIMIT = 70
MAX_VARIANTS = 5
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
# The field a length limit ("70字以内") is about, per channel.
MAIN_FIELD = {"wecom": "body", "moments": "body", "email": "body", "sms": "body", "poster": "sub", "article": "body"}
CHANNEL_NAMES = {
    "wecom": ("企业微信", "WeCom"),
    "moments": ("朋友圈", "Moments"),
    "email": ("邮件", "Email"),
    "sms": ("短信", "SMS"),
    "poster": ("海报", "Poster"),
    "article": ("文章", "Article"),
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
                    for k in (
                        "channel",
                        "subject",
                        "headline",
                        "sub",
                        "cta",
                        "title",
                        "keywords",
                        "description",
                        "body",
                    )
                },
            },
        }
    },
    "required": ["variants"],
}
_PRICE = re.compile(
    r"价格|价钱|价位|多少钱|报价|售价|标价|目录价|定价|卖多少|"
    r"\bprice\b|\bpricing\b|\bcost\b|how much|\bprices\b|list price",
    re.IGNORECASE,
)
_WRITE = re.compile(r"写|文案|草拟|起草|生成|\bwrite\b|\bdraft\b|\bcopy\b|\bcompose\b|\bcreate\b", re.IGNORECASE)
_INVITE = re.compile(r"邀请|报名|预告|提醒|即将|invit|regist|remind|upcoming|save the date|sign up", re.IGNORECASE)
_AUDIENCE_IN_DESCRIPTION = re.compile(r"面向(.{2,12}?)推广")


@dataclass
class Claim:
    text: str
    fact: Fact
    kind: str = "feature"  # "feature" | "spec" (a figure from the sheet's specification table)


def _names_product(message: str, product: Product) -> bool:
    """The code ("LC-3015", "lc3015") or a word of the product's own name ("协作机器人", "DeviceCloud")."""
    low = message.lower()
    code = product.code.lower()
    if code in low or code.replace("-", "") in low.replace("-", ""):
        return True
    for name in (product.name, product.name_en):
        core = name.replace(product.code, " ").strip()
        if len(core) >= 4 and core.lower() in low:
            return True
        for word in core.split():
            # A Chinese compound ("协作机器人") or a brand word ("DeviceCloud"); not "Laser" or "Industrial",
            # which many messages use without meaning this product.
            brand = word.isascii() and re.search(r"[a-z][A-Z]", word) is not None
            if len(word) >= 4 and (brand or not word.isascii()) and word.lower() in low:
                return True
    return False


def _figures(text: str) -> str:
    """The language-neutral part of a spec line: "加工幅面 3000 × 1500 mm" → "3000 × 1500 mm"."""
    kept = re.sub(r"[\u4e00-\u9fff（）()：:，、]+", " ", text)
    kept = re.sub(r"\s{2,}", " ", kept).strip(" /")
    return kept if re.search(r"\d", kept) and not re.search(r"[\u4e00-\u9fff]", kept) else ""


def _same_figure(a: str, b: str) -> bool:
    """Two lines stating the same measured figure ("负载 7 kg" / "Payload | 7 kg")."""
    figures = set(re.findall(r"\d+(?:\.\d+)?\s*(?:kg|mm|kw|l\b|℃)", a.lower()))
    figures |= {n for n in re.findall(r"(?<![\d.])\d{2,}(?![\d.])", a)}  # a bare count: "60 样本/小时"
    flat = b.lower().replace(" ", "")
    return bool(figures) and any(re.search(rf"(?<![\d.]){re.escape(f.replace(' ', ''))}", flat) for f in figures)


def understood_from_message(message: str, product_codes: list[str]) -> dict[str, Any]:
    """Form fields a message states in words (channel, product, variants, language); the explicit input
    always wins over these. The reading itself is skills.instructions (one rule for every writer)."""
    inst = read_instructions(message)
    found: dict[str, Any] = {}
    if inst.channels:
        found["channel"] = inst.channels[0]
    lowered = message.lower()
    for code in sorted(product_codes, key=len, reverse=True):
        if code.lower() in lowered:
            found["product"] = code
            break
    if inst.count:
        found["variants"] = inst.count
    if inst.language:
        found["language"] = inst.language
    return found


def previous_turn(request: SkillRequest) -> PriorTurn | None:
    for turn in reversed(request.history):
        if turn.skill == "marketing_copy" and turn.data.get("variants"):
            return turn
    return None


def event_state(campaign: dict[str, Any], today: dt.date) -> str | None:
    """'upcoming' | 'ongoing' | 'over' for the campaign's dates against the business day."""
    if not campaign:
        return None
    start, end = dt.date.fromisoformat(campaign["start_date"]), dt.date.fromisoformat(campaign["end_date"])
    if end < today:
        return "over"
    return "ongoing" if start <= today else "upcoming"


def _bigrams(text: str) -> set[str]:
    flat = re.sub(r"\s+", "", text.lower())
    return {flat[i : i + 2] for i in range(len(flat) - 1)}


def _overlap(message: str, text: str) -> float:
    grams = _bigrams(message)
    return len(grams & _bigrams(text)) / (len(grams) or 1)


def _claims(ctx: SkillContext, product: Product, lang: str) -> list[Claim]:
    """Feature and spec lines of the product's sheet; the sheet in the copy's language when there is one."""
    # The model code is the exact token every product sheet carries; the name adds recall in the copy's language.
    # The sheet's own title words ("产品说明" / "product sheet") pull the sheet in the copy's language up
    # when both languages' sheets compete for the top-k.
    name = f"{product.name} 产品说明" if lang == "zh" else f"{product.name_en} product sheet"
    hits = kb_search(ctx, f"{product.code} {name}", k=10)

    def sheets_in(found: list[Fact]) -> list[list[Fact]]:
        return [
            facts
            for facts in group_by_doc(found).values()
            if product.code in {p.upper() for p in meta_list(facts[0], "products")} and _is_sheet(facts[0])
        ]

    sheets = sheets_in(hits)
    sheets.sort(key=lambda fs: 0 if fs[0].meta.get("lang") == lang else 1)
    if not sheets:
        return []
    chunks = article_chunks(ctx, sheets[0], f"{product.code} features specifications")
    sections = sections_with_sources(chunks)
    claims = [Claim(text.rstrip("。."), src) for text, src in sections.get("features", [])]
    claims += [Claim(text, src, "spec") for text, src in sections.get("specs", [])[:4]]
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


SMS_CLOSINGS = {
    ("zh", "on"): ["", "，期待您的参与", "，欢迎莅临"],
    ("zh", "over"): ["", "，感谢关注", "，欢迎咨询"],
    ("en", "on"): ["", ", hope to see you", ", see you there"],
    ("en", "over"): ["", ", thank you", ", ask us for more"],
}
# Closing words for a later SMS variant with no event (an invitation to ask; never a new fact).
SMS_PLAIN_CLOSINGS = {
    "zh": ["，欢迎咨询", "，欢迎预约演示", "，详情请回复咨询"],
    "en": [", ask us for details", ", book a demo", ", reply to learn more"],
}
POSTER_FORMS = {
    "zh": ["认识{n}", "{n}，为{a}而来", "选择{n}"],
    "en": ["Meet the {n}", "The {n}, built for {a}", "Why the {n}"],
}
OPENERS = {
    "zh": {
        None: ["{a}您好！", "致{a}：", "各位{a}："],
        "formal": ["尊敬的{a}：", "尊敬的{a}，您好：", "致尊敬的{a}："],
        "casual": ["{a}们好～", "嗨，{a}！", "{a}看过来～"],
        "warm": ["亲爱的{a}，您好！", "{a}，好久不见！", "感谢一路同行的{a}："],
    },
    "en": {
        None: ["Hello {a},", "Dear {a},", "To our {a}:"],
        "formal": ["Dear {a},", "Dear valued {a},", "To our {a}:"],
        "casual": ["Hi {a}!", "Hey {a},", "Good news, {a}:"],
        "warm": ["Hello {a},", "Dear friends among our {a},", "Thank you, {a},"],
    },
}


# Campaign kinds that take place (and can be over); a mailing (邮件营销) is sent, not attended.
EVENT_KINDS = ("研讨会", "展会", "直播", "客户沙龙", "新品发布", "webinar", "seminar", "expo", "livestream")


def _event_line(camp: dict[str, Any], state: str | None, zh: bool) -> str:
    if not camp:
        return ""
    name, start, end = camp["name"], camp["start_date"], camp["end_date"]
    when = start if start == end else (f"{start} 至 {end}" if zh else f"{start} to {end}")
    if not any(k in str(camp.get("kind") or "").lower() for k in EVENT_KINDS):
        return f"{name}（{when}）" if zh else f"{name} ({when})"
    if state == "over":
        return f"{name}已于 {end} 圆满结束" if zh else f"{name} took place on {when}"
    if state == "ongoing":
        return f"{name}正在进行中（{when}）" if zh else f"{name} is on now ({when})"
    return f"{name}将于 {when} 举行" if zh else f"{name} takes place on {when}"


def _cta(state: str | None, has_event: bool, zh: bool) -> str:
    if has_event and state == "over":
        return "欢迎索取活动资料或预约产品演示。" if zh else "Ask us for the highlights or book a demo."
    if has_event:
        return "诚邀您报名参加。" if zh else "We would be glad to see you there."
    return "欢迎回复咨询或预约演示。" if zh else "Reply to ask a question or book a demo."


def _draft(channel: str, i: int, v: dict[str, Any], picked: list[Claim], zh: bool) -> dict[str, str]:
    """One variant, assembled from the picked claims; wording only, no new facts. ``i`` varies the opening,
    the subject/headline form and (through ``picked``) the claims, so variants are not copies."""
    name = v["product_name"] or (v["campaign"].get("name") if v["campaign"] else "")
    audience = v["audience"]
    camp = v["campaign"]
    state = v["event_state"]
    claim_txt = ("；" if zh else "; ").join(c.text for c in picked)
    event = _event_line(camp, state, zh)
    cta = _cta(state, bool(camp) and any(k in str(camp.get("kind") or "") for k in EVENT_KINDS), zh)
    openers = OPENERS["zh" if zh else "en"].get(v["tone"]) or OPENERS["zh" if zh else "en"][None]
    opener = openers[(i + v["opening"]) % len(openers)].format(a=audience)
    head = picked[0].text.split("：")[0].split(":")[0] if picked else ""
    if channel == "sms":
        brand = "【星衡智能】" if zh else "[Xingheng] "
        tail = "回T退订" if zh else "Reply T to opt out"
        lead = (
            (f"{brand}{event}。{v['product_name']}" if zh else f"{brand}{event}. {v['product_name']}")
            if event
            else f"{brand}{name}"
        )
        core = lead + ("：" if zh else ": ") + (picked[0].text if picked else "")
        if event and char_count(f"{core}，{tail}") > v["sms_limit"]:
            # The event is the message; a claim that does not fit whole is left out, not cut, and the
            # variants differ in their closing words instead.
            closings = SMS_CLOSINGS[("zh" if zh else "en", "over" if state == "over" else "on")]
            closing = closings[i % len(closings)]
            bare = f"{brand}{event}"  # without the product name when the closing needs the room
            options = [lead + closing, bare + closing, lead]
            core = next((o for o in options if char_count(f"{o}，{tail}") <= v["sms_limit"]), lead)
        # As many of the variant's claims as fit the limit, whole (an SMS is counted character by character).
        for extra in [c.text for c in v["all_claims"] if c.text not in core][: 2 + i]:
            longer = core + ("，" if zh else ", ") + extra
            if char_count(f"{longer}，{tail}") > v["sms_limit"]:
                break
            core = longer
        core = core.replace("。：", "：").rstrip("：: ")
        if i and not event:
            # Few facts make the variants the same sentence: a later variant ends on its own closing words
            # (an invitation to ask, no new fact), dropping its last clause when that is what makes room.
            closing = SMS_PLAIN_CLOSINGS["zh" if zh else "en"][(i - 1) % len(SMS_PLAIN_CLOSINGS["zh"])]
            sep = "，" if zh else ", "
            clauses = core.split(sep)
            while len(clauses) > 1 and char_count(f"{sep.join(clauses)}{closing}{sep}{tail}") > v["sms_limit"]:
                clauses.pop()
            if char_count(f"{sep.join(clauses)}{closing}{sep}{tail}") <= v["sms_limit"]:
                core = sep.join(clauses) + closing
        return {"body": fit_sms(core, tail, v["sms_limit"])}
    if channel == "poster":
        # Headline forms, wording only: the variant's own claim first, then forms that need none, so that
        # three headlines asked for are three different ones even when the product has one fact.
        forms = [f"{name} · {head}", f"{head}｜{name}" if zh else f"{head} | {name}"] if head else [name]
        forms += [f.format(n=name, a=audience) for f in POSTER_FORMS["zh" if zh else "en"]]
        return {
            "headline": forms[i % len(forms)],
            "sub": (event + ("；" if zh else "; ") if event else "") + (claim_txt or name),
            "cta": ("立即报名" if camp and state != "over" else "预约演示")
            if zh
            else ("Register now" if camp and state != "over" else "Book a demo"),
        }
    if channel == "email":
        label = camp.get("name") if camp else name
        subjects_zh = [
            f"{label}：为{audience}准备的产品介绍",
            f"{label}｜{head}" if head else f"{label}｜{audience}专享资讯",
            f"{audience}请关注：{label}" + (f"（{head}）" if head else ""),
            f"{'活动回顾' if state == 'over' else '邀请函'}｜{label}" if camp else f"{name}：{head or '产品介绍'}",
            f"一封来自星衡智能的信：{label}",
        ]
        subjects_en = [
            f"{label}: an introduction for {audience}",
            f"{label} | {head}" if head else f"{label} | news for {audience}",
            f"For {audience}: {label}" + (f" ({head})" if head else ""),
            f"{'Highlights' if state == 'over' else 'Invitation'} | {label}"
            if camp
            else f"{name}: {head or 'overview'}",
            f"A note from Xingheng: {label}",
        ]
        subject = (subjects_zh if zh else subjects_en)[(i + v["opening"]) % 5]
        lines = [opener, ""]
        if v["product_name"]:
            lines.append(
                f"感谢您一直以来对星衡智能的关注。{v['product_name']}的主要特点："
                if zh
                else f"Thank you for your interest in Xingheng. Key points of the {v['product_name']}:"
            )
            lines += [f"- {c.text}" for c in picked]
        if event:
            lines += ["", f"{event}。" if zh else f"{event}."]
        lines += ["", cta, "", "星衡智能市场部" if zh else "Kind regards,\nXingheng Marketing"]
        return {"subject": subject, "body": "\n".join(lines)}
    if channel == "article":
        title = f"{name}：{head}" if head and zh else (f"{name}: {head}" if head else name)
        if i:
            title = f"{audience}选型参考｜{title}" if zh else f"For {audience}: {title}"
        keywords = ", ".join(
            dict.fromkeys([v["product_code"], *(c.text.split("：")[0].split(":")[0][:12] for c in picked[:3])])
        )
        desc = (
            f"本文介绍{name}的{len(picked)}个要点，适合{audience}了解选型。"
            if zh
            else f"{len(picked)} points about the {name} for {audience}."
        )
        paras = [f"{name}" + ("面向" + audience + "。" if zh else f" for {audience}.")]
        paras += [f"{c.text}。" if zh else f"{c.text}." for c in picked]
        if event:
            paras.append(f"{event}。{cta}" if zh else f"{event}. {cta}")
        return {"title": title, "keywords": keywords, "description": desc, "body": "\n\n".join(paras)}
    # wecom and moments: short, friendly, one block
    parts = [opener]
    if event:
        parts.append(f"{event}。" if zh else f" {event}.")
    if v["product_name"] and claim_txt:
        parts.append(f"{v['product_name']}：{claim_txt}。" if zh else f" The {v['product_name']}: {claim_txt}.")
    elif v["product_name"]:
        parts.append(f"欢迎了解{v['product_name']}。" if zh else f" Meet the {v['product_name']}.")
    body = "".join(parts)
    if channel == "wecom" or camp:
        body += ("" if zh else " ") + cta
    return {"body": body.strip()}


def fit_sms(core: str, tail: str, limit: int = SMS_LIMIT) -> str:
    """At most ``limit`` characters (Python counts characters, not bytes): drop clauses, keep the opt-out."""
    sep = "，"
    text = f"{core}{sep}{tail}"
    if len(text) <= limit:
        return text
    # Whole clauses dropped first (trim_to); a mid-sentence cut only when not even the opening fits.
    return trim_to(core, limit, f"{sep}{tail}")


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
        out["body"] = trim_to(out["body"], SMS_LIMIT)  # whole clauses dropped, a hard cut only as a last resort
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


def _limit(text: str, limit: int | None, tail: str = "") -> str:
    if not limit or char_count(text) <= limit:
        return text
    if tail and text.endswith(tail) and char_count(tail) < limit // 2:
        head = text[: -len(tail)].rstrip()
        sep = head[-1] if head[-1:] in "，," else ""  # "…时间，回T退订": the separator before the tail stays
        return trim_to(head.rstrip("，,"), limit, sep + tail)
    return trim_to(text, limit)


_PRODUCT_CODE = re.compile(r"[A-Za-z]{2}-?[0-9A-Za-z]+")
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")


def _stale_match(ctx: SkillContext, named: Campaign, product: Product | None, message: str, today: dt.date) -> bool:
    """A finished campaign the words only seem to name: through the product's own name ("推广 LC-3015 激光切割机"
    is about the product, not the laser-cutting seminar), or, for an invitation, through a generic word or
    two ("研讨会邀请" for medical dealers is not the laser seminar)."""
    if product is not None:
        return _campaign_named(ctx, message, today, ignore=f"{product.name} {product.name_en}") is None
    if not _INVITE.search(message):
        return False
    own = _bigrams(_PRODUCT_CODE.sub(" ", re.sub(r"[（）()·]", "", named.name)))
    return len(own & _bigrams(message)) / (len(own) or 1) < 0.5


def _campaign_named(ctx: SkillContext, message: str, today: dt.date, ignore: str = "") -> Campaign | None:
    """A campaign the words name: by its date ("12月5号的发布会"), or by its name's wording — most of it,
    or clearly more of it than of any other ("华南沙龙"). Product codes in a name do not count: "写一条
    CR-7 的朋友圈" is about the product, not about the CR-7 launch livestream."""
    camps = list(ctx.records.list("campaign", order_by=Campaign.id))
    dates = _dates_in(message, today)
    on_date = [c for c in camps if c.start_date in dates]
    if len(on_date) == 1:
        return on_date[0]
    grams = _bigrams(_PRODUCT_CODE.sub(" ", message)) - _bigrams(ignore)
    scored = []
    for camp in camps:
        own = _bigrams(_PRODUCT_CODE.sub(" ", re.sub(r"[（）()·]", "", camp.name)))
        hits = len(own & grams)
        scored.append((hits, hits / (len(own) or 1), camp))
    scored.sort(key=lambda x: (-x[0], -x[1]))
    if not scored or scored[0][0] < 2:
        return None
    best, runner_up = scored[0], (scored[1][0] if len(scored) > 1 else 0)
    return best[2] if best[1] >= 0.5 or best[0] >= 2 * max(runner_up, 1) else None


def _dates_in(message: str, today: dt.date) -> set[dt.date]:
    """Dates written in the message: 2026-12-05, 12月5日 / 12月5号, Dec 5 (no year: the nearest such day)."""
    found: set[dt.date] = set()
    for y, m, d in re.findall(r"(\d{4})[-/年](\d{1,2})[-/月](\d{1,2})", message):
        found.add(_safe_date(int(y), int(m), int(d)))
    pairs = [(int(m), int(d)) for m, d in re.findall(r"(?<![\d年/-])(\d{1,2})月(\d{1,2})[日号]", message)]
    for word, d in re.findall(r"\b([A-Za-z]{3,9})\.?\s+(\d{1,2})\b", message):
        if word[:3].lower() in _MONTHS:
            pairs.append((_MONTHS.index(word[:3].lower()) + 1, int(d)))
    for m, d in pairs:
        day = _safe_date(today.year, m, d)
        if day != dt.date.min and day < today - dt.timedelta(days=180):
            day = _safe_date(today.year + 1, m, d)
        found.add(day)
    found.discard(dt.date.min)
    return found


def _safe_date(y: int, m: int, d: int) -> dt.date:
    try:
        return dt.date(y, m, d)
    except ValueError:
        return dt.date.min


def _product(ctx: SkillContext, request: SkillRequest, campaign_product: int | None) -> Product | None:
    code = request.input.get("product")
    if code:
        row = ctx.records.first("product", Product.code == str(code).upper())
        if row is None:
            raise BadRequest(f"unknown product code {code!r}")
        return row  # type: ignore[no-any-return]
    if request.context is not None and request.context.object_type == "product":
        return ctx.records.get("product", request.context.object_id)  # type: ignore[no-any-return]
    if campaign_product:
        return ctx.records.find("product", campaign_product)  # type: ignore[no-any-return]
    named = [p for p in ctx.records.list("product", order_by=Product.id) if _names_product(request.message, p)]
    return named[0] if len(named) == 1 else None


def _ask_which(ctx: SkillContext, message: str, zh: bool) -> NeedsChoice:
    """Which product or campaign: campaigns not yet over first, then products, closest to the words first."""
    today = ctx.clock.today()
    camps = [c for c in ctx.records.list("campaign", order_by=Campaign.start_date) if c.end_date >= today]
    products = ctx.records.list("product", order_by=Product.id)

    def camp_text(c: Campaign) -> str:
        return f"{c.name} {c.kind} {c.description} {c.segment}"

    camps.sort(key=lambda c: (-_overlap(message, camp_text(c)), c.start_date))
    # A product is also described by the campaigns that promoted it ("面向医疗客户推广BA-800").
    promoted: dict[int, str] = {}
    for c in ctx.records.list("campaign", order_by=Campaign.id):
        if c.product_id:
            promoted[c.product_id] = promoted.get(c.product_id, "") + f" {c.description} {c.segment}"
    products.sort(key=lambda p: -_overlap(message, f"{p.name} {p.name_en} {p.line} {p.spec} {promoted.get(p.id, '')}"))
    options = [
        Choice(
            label=(f"活动：{c.name}（{c.start_date.isoformat()}）" if zh else f"Campaign: {c.name} ({c.start_date})"),
            context=PageContext(object_type="campaign", object_id=c.id),
        )
        for c in camps[:3]
    ] + [Choice(label=(f"产品：{p.name}" if zh else f"Product: {p.name_en}"), value=p.code) for p in products[:4]]
    question = (
        "这份文案是为哪个活动或产品写的？选一个，我按您的要求来写："
        if zh
        else "Which campaign or product is this copy for? Pick one and I will write it as you asked:"
    )
    return NeedsChoice(question, options, field="product")


def _price_answer(ctx: SkillContext, request: SkillRequest, zh: bool) -> SkillResult:
    """ "LC-3015 多少钱": the list price from the product record (or every product's), cited; never refused."""
    products = ctx.records.list("product", order_by=Product.id)
    named = [p for p in products if _names_product(request.message, p)] or products
    facts = [record_fact(ctx.principal, "product", p, ctx.locale) for p in named]
    ctx.remember(facts)
    lines = []
    for p, f in zip(named, facts, strict=True):
        shown = ctx.records.masked("product", p)
        price = shown.get("list_price")
        label = p.name if zh else p.name_en
        if price is None:
            lines.append(f"- {label}：您的权限看不到价格" if zh else f"- {label}: price not visible to you")
        else:
            amount = f"¥{float(price):,.0f}"
            lines.append(f"- {label}：目录价 {amount} [{f.id}]" if zh else f"- {label}: list price {amount} [{f.id}]")
    head = (
        "产品目录价（来自产品记录，实际报价以销售审批为准）："
        if zh
        else "List prices (product records; quotes need sales approval):"
    )
    return SkillResult(
        skill="marketing_copy",
        answer="\n".join([head, *lines]),
        citations=[citation_for(f) for f in facts],
        trace_id=ctx.trace_id,
        data={"kind": "price", "products": [p.code for p in named]},
    )


def _banned_notes(message: str, zh: bool) -> list[str]:
    """Banned terms the marketer typed: say which, why and what the copy uses instead."""
    notes = []
    found = list(dict.fromkeys(compliance.find_banned(message)))
    for term in [t for t in found if not any(t != o and t in o for o in found)]:  # "最" inside "最先进"
        rule = next((r for r in compliance.load_rules() if r.term == term), None)
        instead = (rule.replacement or rule.suggestion) if rule else ""
        src = rule.source if rule else ""
        notes.append(
            f"您写的“{term}”是广告法禁止的绝对化用语（依据品牌合规指南 {src}），文案里没有使用"
            + (f"，改用“{instead}”" if instead else "")
            + "。"
            if zh
            else f'"{term}" is a banned absolute claim under the advertising law (brand guide {src}); '
            + (f'the copy says "{instead}" instead.' if instead else "the copy leaves it out.")
        )
    return notes


def run(request: SkillRequest, ctx: SkillContext) -> SkillResult:
    load_specs()["marketing_copy"].check_allowed(ctx.principal)  # marketers only, also off the assistant path
    prior = previous_turn(request)
    now = read_instructions(request.message, ctx.locale)
    inst = now.over(prior.data.get("instructions")) if prior is not None else now
    codes = [p.code for p in ctx.records.list("product", order_by=Product.id)]
    # A follow-up ("更正式一点", "第二条", "in English") keeps the earlier turn's form fields.
    carried = dict(prior.data.get("input") or {}) if prior is not None and now.refines_only else {}
    understood = understood_from_message(request.message, codes)
    understood.pop("channel", None)  # the words may name several channels: inst.channels keeps them all
    inp = carried | understood | dict(request.input)
    request = request.model_copy(update={"input": inp})
    # A follow-up ("shorter", "第二条") keeps the previous copy's language unless it asks for another one.
    kept_lang = prior.data.get("language") if prior is not None and now.refines_only else None
    lang = str(inp.get("language") or inst.language or kept_lang or ctx.locale)
    zh = lang == "zh"
    if _PRICE.search(request.message) and not now.channels and not _WRITE.search(request.message):
        return _price_answer(ctx, request, zh)

    channels = [str(inp["channel"])] if inp.get("channel") else (inst.channels or ["wecom"])
    channels = [c for c in channels if c in CHANNEL_FIELDS] or ["wecom"]
    n_variants = max(1, min(int(inp.get("variants") or inst.count or 1), MAX_VARIANTS))
    length = str(inp.get("length") or ("short" if inst.shorter else "long" if inst.longer else "medium"))
    retriever = RecordRetriever(ctx.records, ctx.locale)
    today = ctx.clock.today()

    campaign_id = inp.get("campaign_id") or (
        request.context.object_id if request.context and request.context.object_type == "campaign" else None
    )
    if not campaign_id and (named := _campaign_named(ctx, request.message, today)):
        named_product = ctx.records.first("product", Product.code == str(inp.get("product") or "").upper())
        # A finished event found by the words' wording is no basis for an invitation or a product promotion:
        # without it the copy is about the product, or the skill asks which campaign or product.
        stale = named.end_date < today and _stale_match(ctx, named, named_product, request.message, today)
        if stale:
            pass
        elif named_product is None or named.product_id in (None, named_product.id):
            campaign_id = named.id
    crm_facts: list[Fact] = []
    campaign: dict[str, Any] = {}
    campaign_product = None
    campaign_desc = ""
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
            campaign_desc = str(bundle.record.description or "")
            crm_facts.append(bundle.main)
            inp["campaign_id"] = int(campaign_id)
        product = _product(ctx, request, campaign_product)
        if product is not None:
            crm_facts.append(record_fact(ctx.principal, "product", product, ctx.locale))
            inp.setdefault("product", product.code)
    if product is None and not campaign:
        raise _ask_which(ctx, request.message, zh)

    state = event_state(campaign, today)
    claims = _claims(ctx, product, lang) if product is not None else []
    sheet_lang = str(claims[0].fact.meta.get("lang") or lang) if claims else lang
    supporting: list[Fact] = []
    other_language = False
    if product is not None and product.spec and (not claims or (sheet_lang != lang and zh)):
        # No sheet visible, or only one in another language: the record's spec (Chinese) is still a fact,
        # and copy in the language asked is written from facts in that language. The sheet's lines that
        # state the same figures ("Payload 7 kg" for "负载 7 kg") are cited as well: they back the claim.
        product_fact = next(f for f in crm_facts if f.meta.get("object_type") == "product")
        parts = [part.strip() for part in re.split(r"[，,；;]", product.spec) if part.strip()]
        supporting = [c.fact for c in claims if any(_same_figure(part, c.text) for part in parts)]
        claims = [Claim(part, product_fact) for part in parts]
    elif claims and sheet_lang != lang:
        # An English copy and only a Chinese sheet: no Chinese sentences in English copy. The figures of
        # the specification table ("6 kW", "3000 × 1500 mm") read the same in both: those are quoted.
        claims = [Claim(fig, c.fact, "spec") for c in claims if c.kind == "spec" and (fig := _figures(c.text))]
        other_language = True
    described = _AUDIENCE_IN_DESCRIPTION.search(campaign_desc)
    audience = str(
        inp.get("audience")
        or inst.audience
        or (described.group(1) if described and zh else "")
        or ("客户" if zh else "customers")
    )
    product_name = (product.name if zh else product.name_en) if product is not None else ""
    notes = _banned_notes(request.message, zh)
    if other_language and claims and not zh:
        notes.append(f"The {product_name} sheet is only in Chinese: the copy quotes its specification figures only.")
    if not claims and product is not None:
        notes.append(
            ("这款产品的资料没有中文版，" if other_language else "没有找到这款产品的产品资料，") + "文案没有引用卖点。"
            if zh
            else (f"The {product_name} material is only in Chinese" if other_language else "No product sheet found")
            + ": the copy quotes no product claims."
        )
    if state == "over":
        # Whatever was asked (an invitation, a "宣传", a post), an event that is over is not promoted as
        # coming: say so, so the marketer is not surprised by a recap.
        notes.append(
            f"{campaign['name']}已于 {campaign['end_date']} 结束（今天是 {today.isoformat()}），"
            "文案没有写成邀请或预告，改为活动回顾和后续咨询。"
            if zh
            else f"{campaign['name']} ended on {campaign['end_date']} (today is {today.isoformat()}): the copy "
            "does not invite people to it; it recaps it and offers a follow-up instead."
        )
    opening = int(prior.data.get("opening", 0) + 1) if prior is not None and now.rephrase else 0
    tone_word = inst.tone or str(inp.get("tone") or "") or None
    v = {
        "product_name": product_name,
        "product_code": product.code if product else "",
        "audience": audience,
        "campaign": campaign,
        "event_state": state,
        "tone": tone_word if tone_word in ("formal", "casual", "warm") else None,
        "opening": opening,
        "sms_limit": min(SMS_LIMIT, inst.max_chars or SMS_LIMIT),
        "all_claims": claims,
    }
    per = CLAIMS_BY_LENGTH.get(length, 2)
    picked = [_pick(claims, i, per) for i in range(n_variants)]
    by_channel: dict[str, list[dict[str, str]]] = {}
    report: dict[str, list[dict[str, str]]] = {"rewritten": [], "flagged": []}
    for channel in channels:
        drafts = [_draft(channel, i, v, picked[i], zh) for i in range(n_variants)]
        by_channel[channel] = _finish(drafts, channel, inst.max_chars, report)
    only = _ordinal_pick(now, prior, n_variants)
    if only is not None:
        by_channel = {ch: [vs[min(only, len(vs) - 1)]] for ch, vs in by_channel.items()}
    _note_limits(by_channel, inst, claims, notes, zh)
    _shorter_than_before(by_channel, now, prior)

    used_claims = [c for p in picked for c in p]
    cited = [*crm_facts, *(c.fact for c in used_claims), *supporting]
    first = channels[0]
    offline_sections = [_format_channel(ch, vs, zh, len(channels) > 1, inst.part) for ch, vs in by_channel.items()]
    variables = {
        "request": request.message,
        "history": [{"message": t.message, "answer": t.answer} for t in request.history[-4:] if t.answer],
        "previous_answer": prior.answer if prior is not None else "",
        "instructions": inst.as_data(),
        "channels": channels,
        "channel": first,
        "audience": audience,
        "product_name": product_name,
        "product_facts": [{"id": c.fact.id, "label": product_name, "text": c.text} for c in claims],
        "campaign": campaign,
        "event_state": state or "",
        "today": today.isoformat(),
        "tone": str(inp.get("tone") or inst.tone or ("专业" if zh else "professional")),
        "length": inst.max_chars or LENGTH_CHARS.get(length, 120),
        "length_hint": length,
        "language": lang,
        "banned_terms": compliance.banned_terms(),
        "variants": n_variants,
        "fields": {ch: list(CHANNEL_FIELDS[ch]) for ch in channels},
        "drafts": offline_sections,
        "notes": notes,
        "sms_limit": v["sms_limit"],
    }
    composed = compose(ctx, TEMPLATE, variables, cited, json_schema=OUTPUT_SCHEMA, version=TEMPLATE_VERSION)

    if composed.provider != "offline" and not composed.degraded:
        by_channel = _from_model(composed.parsed, composed.text, channels, n_variants, inst.max_chars, report)
        if only is not None:
            by_channel = {ch: [vs[min(only, len(vs) - 1)]] for ch, vs in by_channel.items() if vs}
        _note_limits(by_channel, inst, claims, notes, zh)
        _shorter_than_before(by_channel, now, prior)
        body = "\n\n".join(_format_channel(ch, vs, zh, len(channels) > 1, inst.part) for ch, vs in by_channel.items())
    else:
        body = composed.text
    final = compliance.check(body)  # last guard on the whole copy, whatever produced it
    if final.rewritten:
        report["rewritten"] += final.rewritten
        report["flagged"] += final.flagged
    notes = list(dict.fromkeys(notes))
    composed.text = final.text + (
        ("\n\n【说明】\n" if zh else "\n\nNotes:\n") + "\n".join(f"- {n}" for n in notes) if notes else ""
    )
    variants = [x for vs in by_channel.values() for x in vs]
    result = result_from(
        ctx,
        "marketing_copy",
        composed,
        cited,
        data={
            "channel": first,
            "channels": channels,
            "language": lang,
            "variants": variants,
            "by_channel": by_channel,
            "event_state": state,
            "audience": audience,
            "instructions": inst.as_data(),
            "input": {k: val for k, val in inp.items() if k in ("product", "campaign_id", "channel", "audience")},
            "opening": opening,
            "notes": notes,
            "compliance": report,
            "sources": sorted({doc_id(f) for f in [*(c.fact for c in used_claims), *supporting] if f.type == "kb"}),
        },
    )
    if report["flagged"]:
        result.warnings.append("compliance_review_needed")
    if notes:
        result.warnings.append("instructions_partly_followed")
    return result


def _ordinal_pick(now: Instructions, prior: PriorTurn | None, n: int) -> int | None:
    """ "第二条改得更正式": the follow-up is about that one variant of the previous answer."""
    if prior is None or now.ordinal is None:
        return None
    count = len(prior.data.get("variants") or []) or n
    return count - 1 if now.ordinal == -1 else max(0, min(now.ordinal, count) - 1)


OPT_OUT_TAILS = ("回T退订", "Reply T to opt out")
SHORTER_RATIO = 0.8  # "shorter" after a piece: at least a fifth shorter than it was


def _shorter_than_before(
    by_channel: dict[str, list[dict[str, str]]], now: Instructions, prior: PriorTurn | None
) -> None:
    """ "更短一点 / shorter" refines the previous copy: each variant's main field ends up shorter than the same
    variant was, by dropping whole clauses (the opt-out tail stays)."""
    if not now.shorter or prior is None:
        return
    before = prior.data.get("by_channel") or {}
    for channel, variants in by_channel.items():
        main = MAIN_FIELD[channel]
        for i, variant in enumerate(variants):
            old = before.get(channel) or []
            prev = str((old[min(i, len(old) - 1)] if old else {}).get(main) or "")
            text = variant.get(main) or ""
            if not prev or not text or char_count(text) < char_count(prev):
                continue
            tail = next((t for t in OPT_OUT_TAILS if text.endswith(t)), "")
            variant[main] = _limit(text, int(char_count(prev) * SHORTER_RATIO), tail)


def _finish(
    drafts: list[dict[str, str]], channel: str, max_chars: int | None, report: dict[str, list[dict[str, str]]]
) -> list[dict[str, str]]:
    """Ad-law rewrite, then the length limit on the channel's main field (after rewriting: it can lengthen)."""
    out = []
    main = MAIN_FIELD[channel]
    for d in drafts:
        checked, rep = _enforce(d, channel)
        report["rewritten"] += rep["rewritten"]
        report["flagged"] += rep["flagged"]
        if max_chars and main in checked:
            tail = "回T退订" if checked[main].endswith("回T退订") else ""
            checked[main] = _limit(checked[main], max_chars, tail)
        out.append(checked)
    return out


def _from_model(
    parsed: Any, text: str, channels: list[str], n: int, max_chars: int | None, report: dict[str, list[dict[str, str]]]
) -> dict[str, list[dict[str, str]]]:
    raw = (parsed or {}).get("variants") if isinstance(parsed, dict) else None
    raw = raw or [{"body": text}]
    grouped: dict[str, list[dict[str, str]]] = {ch: [] for ch in channels}
    for item in raw:
        item = {k: str(val) for k, val in dict(item).items() if val}
        ch = item.pop("channel", "")
        ch = ch if ch in grouped else next((c for c in channels if len(grouped[c]) < n), channels[0])
        if len(grouped[ch]) < n:
            grouped[ch].append(item)
    return {ch: _finish(vs, ch, max_chars, report) for ch, vs in grouped.items() if vs}


def _note_limits(
    by_channel: dict[str, list[dict[str, str]]], inst: Instructions, claims: list[Claim], notes: list[str], zh: bool
) -> None:
    """Say what could not be honoured: copies where distinct variants were asked, a count capped, no claims."""
    for ch, vs in by_channel.items():
        keys = [tuple(sorted(x.items())) for x in vs]
        if len(set(keys)) < len(keys):
            notes.append(
                f"{CHANNEL_NAMES[ch][0]}：事实有限，部分版本措辞相近。"
                if zh
                else f"{CHANNEL_NAMES[ch][1]}: few facts, some variants are close."
            )
    if inst.count and inst.count > MAX_VARIANTS:
        notes.append(f"一次最多 {MAX_VARIANTS} 个版本。" if zh else f"At most {MAX_VARIANTS} variants at a time.")


def _format_channel(
    channel: str, variants: list[dict[str, str]], zh: bool, titled: bool, part: str | None = None
) -> str:
    key = {"subject": "subject", "headline": "headline"}.get(part or "")
    key = key if key in CHANNEL_FIELDS[channel] else ("title" if part == "headline" and channel == "article" else None)
    if key and len(variants) > 1:
        # "三个 email subject line": the subjects are the answer; one full piece shows them in use.
        word = {"subject": ("主题", "Subject"), "headline": ("标题", "Headline"), "title": ("标题", "Title")}[key]
        lines = [
            f"{word[0 if zh else 1]} {i + 1}{'：' if zh else ': '}{x.get(key, '')}" for i, x in enumerate(variants)
        ]
        body = "\n".join(lines) + "\n\n" + ("完整示例（版本 1）：\n" if zh else "Full example (variant 1):\n")
        body += format_variant(0, variants[0], channel, zh).split("\n", 1)[-1]
    else:
        body = "\n\n".join(format_variant(i, x, channel, zh) for i, x in enumerate(variants))
    if not titled:
        return body
    return f"【{CHANNEL_NAMES[channel][0]}】\n{body}" if zh else f"## {CHANNEL_NAMES[channel][1]}\n{body}"
