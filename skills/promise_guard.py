"""The promise guard: a customer reply must not promise dates, times, prices or outcomes the records
do not hold.

The draft (from a model or the offline template) is split into sentences; a sentence with a date,
a time, an amount, a relative day ("明天", "tomorrow") or a promise word ("保证", "免费", "guarantee")
that does not appear in the grounding text is removed, and one neutral line saying the details will be
confirmed takes the place of the first removal. Relative days are never grounded by a record (a record
holds dates); they are grounded only by what the agent stated themselves ("告诉他工程师明天上午上门"): the
agent's own plan is theirs to promise, and a draft may repeat it — but not embellish it ("明天上午10点").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

PATTERNS: dict[str, str] = {
    "relative_day": r"明天|明早|明晚|后天|今天|今晚|今日|马上到|稍后到"
    r"|下周[一二三四五六日天]?|本周[一二三四五六日天]|周[一二三四五六日]|星期[一二三四五六日天]"
    r"|\btomorrow\b|\btonight\b|\btoday\b|\bnext week\b|\bthis (?:afternoon|evening|morning)\b"
    r"|\b(?:mon|tues|wednes|thurs|fri|satur|sun)day\b",
    "time": r"(?:[上下]午|早上|晚上)?\s*\d{1,2}\s*(?:[:：]\s*\d{2}|点(?:半|\d{1,2}分?)?)"
    r"|\b\d{1,2}\s*(?:am|pm)\b|\bnoon\b"
    r"|\bwithin\s+\d+\s*(?:hours?|days?|minutes?)\b|\d+\s*(?:小时|分钟|个工作日|天)内",
    "date": r"\d{4}[-/年]\d{1,2}[-/月]\d{1,2}日?|\d{1,2}月\d{1,2}[日号]",
    "amount": r"[¥￥$]\s?\d[\d,.]*|\d[\d,.]*\s?(?:元|块钱|块|万元|万|RMB|CNY|USD)",
    "promise": r"保证|担保|承诺|一定会|确保|肯定能|包修好|免费|全免|赔偿|补偿|折扣|打折|退款|减免"
    r"|\bguarantee\w*|\bpromise\w*|\bdefinitely\b|\bfree(?: of charge)?\b|\bno charge\b"
    r"|\brefund\w*|\bcompensat\w*|\bdiscount\w*",
}
_COMPILED = {k: re.compile(v, re.IGNORECASE) for k, v in PATTERNS.items()}
_SENTENCE = re.compile(r"[^。！？!?\n]*?(?:[。！？!?]|\.(?=\s|$))|[^。！？!?\n]+|\n")
_CLAUSE = re.compile(r"[^，,；;]*[，,；;]?")
SAFE_LINE = {
    "zh": "具体的上门时间和费用，我们确认后会尽快告知您。",
    "en": "We will let you know the visit time and any costs as soon as they are confirmed.",
}


@dataclass
class GuardReport:
    text: str
    removed: list[str] = field(default_factory=list)
    hits: list[dict[str, str]] = field(default_factory=list)


def ungrounded(sentence: str, grounding: str, stated: Sequence[str] = ()) -> list[dict[str, str]]:
    hits = []
    low = grounding.lower()
    said = " ".join(stated).lower()
    for kind, pattern in _COMPILED.items():
        for m in pattern.finditer(sentence):
            token = m.group(0).strip()
            if kind != "relative_day" and token.lower() in low:
                continue
            if said and _norm(token) in _norm(said):
                continue
            hits.append({"kind": kind, "text": token})
    return hits


def _norm(text: str) -> str:
    return re.sub(r"\s+", "", text.lower())


def guard(draft: str, grounding: str, lang: str = "zh", stated: Sequence[str] = ()) -> GuardReport:
    """Drop each clause that promises something ungrounded; keep greetings and grounded advice."""
    report = GuardReport(text=draft)
    kept: list[str] = []
    replaced = False
    for sentence in _SENTENCE.findall(draft):
        if not sentence:
            continue
        clauses = _CLAUSE.findall(sentence)
        good: list[str] = []
        for clause in clauses:
            # A citation list like "[crm:ticket:7]" carries ids, not promises: never scan it.
            hits = ungrounded(re.sub(r"\[[^\]]*\]", "", clause), grounding, stated)
            if hits:
                report.removed.append(clause.strip())
                report.hits.extend(hits)
            else:
                good.append(clause)
        if len(good) == len(clauses):
            kept.append(sentence)
            continue
        text = "".join(good).rstrip("，,；; ")
        if text.strip():
            kept.append(text + ("，" if lang == "zh" else ", "))
        if not replaced:
            kept.append(SAFE_LINE.get(lang, SAFE_LINE["zh"]) + ("" if lang == "zh" else " "))
            replaced = True
    report.text = re.sub(r"\n{3,}", "\n\n", "".join(kept)).strip()
    return report
