"""What the person asked for, read from their words: language, how many, which channels, how long, for
whom, in what tone, which earlier variant, and what an agent says they will do.

One place for the rule, shared by every writing skill (reply_suggestion, marketing_copy, troubleshoot,
and any skill that refines an earlier answer). The vocabulary is data (``skills/vocab/instructions.yaml``);
this module only knows how the pieces combine. Nothing here decides what a skill does with a part it
cannot honour: the skill adds it to ``unmet`` and says so in its answer.

    read_instructions("企业微信、朋友圈和短信各一条，70字以内", "zh")
    → channels ['wecom', 'moments', 'sms'], count 1, max_chars 70
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from copilot.core.locale import has_cjk

VOCAB_PATH = Path(__file__).parent / "vocab" / "instructions.yaml"
MAX_COUNT = 5  # more variants than this is no longer "variants"; the skill says it capped the number

_SENTENCE_END = "。！？!?\n"
_ZH_DIGIT = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}


@dataclass
class Instructions:
    """The structured parts of a writing request. ``None`` / empty means the words did not say."""

    language: str | None = None  # 'zh' | 'en'
    count: int | None = None
    channels: list[str] = field(default_factory=list)
    max_chars: int | None = None
    max_words: int | None = None
    tone: str | None = None  # 'formal' | 'casual' | 'warm'
    shorter: bool = False
    longer: bool = False
    audience: str | None = None
    ordinal: int | None = None  # 1-based; -1 = the last one
    part: str | None = None  # what the count is about: 'subject' | 'headline'
    rephrase: bool = False  # "换个开头": same content, new wording
    # What an agent asked to tell the customer, turned to the customer's point of view
    # ("告诉他工程师明天上午上门" → "工程师明天上午上门"). The agent's own statement, not a record fact.
    stated: list[str] = field(default_factory=list)
    # Parts that were read but that the skill could not honour, each with its reason (the skill fills this).
    unmet: list[str] = field(default_factory=list)

    @property
    def refines_only(self) -> bool:
        """Only modifiers ("更正式一点", "shorter", "in English", "第二条", "换个开头"): a follow-up on the
        previous answer rather than a new piece."""
        modifier = (
            self.tone
            or self.count
            or self.shorter
            or self.longer
            or self.rephrase
            or self.language
            or self.ordinal is not None
            or self.max_chars
            or self.max_words
        )
        new_content = self.channels or self.stated or self.audience
        return bool(modifier) and not new_content

    def over(self, earlier: Instructions | dict[str, Any] | None) -> Instructions:
        """These instructions on top of an earlier turn's: what this turn says wins, the rest carries over.
        "shorter" after "longer" (and the reverse) cancels the earlier one."""
        if earlier is None:
            return self
        base = earlier if isinstance(earlier, Instructions) else from_data(earlier)
        merged = Instructions(**{f.name: getattr(base, f.name) for f in fields(Instructions)})
        # "换个开头" and "第二条" are about this turn only; the rest is how the piece should stay.
        merged.rephrase, merged.ordinal = False, None
        for f in fields(Instructions):
            value = getattr(self, f.name)
            if f.name == "unmet":
                continue
            if value not in (None, False, [], ""):
                setattr(merged, f.name, value)
        if self.shorter:
            merged.longer = False
        if self.longer:
            merged.shorter = False
        merged.unmet = []
        return merged

    def as_data(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in (None, False, [], "")}


def from_data(data: dict[str, Any]) -> Instructions:
    """An ``as_data()`` dict (an earlier turn's ``data["instructions"]``) back as Instructions."""
    known = {f.name for f in fields(Instructions)}
    return Instructions(**{k: v for k, v in (data or {}).items() if k in known})


@lru_cache(maxsize=1)
def vocab() -> dict[str, Any]:
    return yaml.safe_load(VOCAB_PATH.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def _has(text: str, phrase: str) -> bool:
    """ASCII phrases match as whole words ("mail" is not inside "email"); Chinese ones as substrings."""
    if phrase.isascii():
        return re.search(rf"(?<![a-z0-9]){re.escape(phrase)}(?![a-z0-9])", text) is not None
    return phrase in text


def _first_hit(text: str, table: dict[str, list[str]]) -> str | None:
    best: tuple[int, int, str] | None = None
    for key, phrases in table.items():
        for p in phrases:
            pos = _find(text, p.lower())
            if pos >= 0 and (best is None or (pos, -len(p)) < (best[0], best[1])):
                best = (pos, -len(p), key)
    return best[2] if best else None


def _find(text: str, phrase: str) -> int:
    if phrase.isascii():
        m = re.search(rf"(?<![a-z0-9]){re.escape(phrase)}(?![a-z0-9])", text)
        return m.start() if m else -1
    return text.find(phrase)


def zh_number(raw: str) -> int | None:
    """'3', '三', '十二', '七十', '一百' → int; anything else None."""
    raw = raw.strip()
    if raw.isdigit():
        return int(raw)
    if not raw or any(c not in _ZH_DIGIT and c not in "十百" for c in raw):
        return None
    total, current = 0, 0
    for c in raw:
        if c == "百":
            total += (current or 1) * 100
            current = 0
        elif c == "十":
            total += (current or 1) * 10
            current = 0
        else:
            current = _ZH_DIGIT[c]
    return total + current


_ZH_NUM = r"\d+|[零〇一二两三四五六七八九十百]+"


def _language(low: str) -> str | None:
    return _first_hit(low, vocab()["language"])


def channels_in(low: str) -> list[str]:
    """Every channel named, in the order named; a longer phrase hides the shorter one inside it."""
    spans: list[tuple[int, int, str]] = []
    phrases = sorted(((p.lower(), ch) for ch, ps in vocab()["channels"].items() for p in ps), key=lambda x: -len(x[0]))
    for phrase, channel in phrases:
        for m in re.finditer(
            rf"(?<![a-z0-9]){re.escape(phrase)}(?![a-z0-9])" if phrase.isascii() else re.escape(phrase), low
        ):
            if any(s <= m.start() < e or s < m.end() <= e for s, e, _ in spans):
                continue
            spans.append((m.start(), m.end(), channel))
    return list(dict.fromkeys(ch for _, _, ch in sorted(spans)))


def _count(message: str, low: str) -> tuple[int | None, str | None]:
    v = vocab()
    parts = {p.lower(): name for name, ps in v["parts"].items() for p in ps}
    part_alt = "|".join(re.escape(p) for p in sorted(parts, key=len, reverse=True))
    found: list[tuple[int, int, str | None, int]] = []  # (priority, position, part, n)
    zh_units = "|".join(re.escape(u) for u in sorted(v["count_units"]["zh"], key=len, reverse=True))
    not_after = "|".join(re.escape(u) for u in v["count_units"]["not_after_zh"])
    for m in re.finditer(rf"(?<!第)({_ZH_NUM})\s*({zh_units})(?!{not_after})", message):
        n = zh_number(m.group(1))
        if n is None or n == 0:
            continue
        tail = low[m.end() : m.end() + 24]
        pm = re.match(rf"\s*(?:[a-z-]+\s+|[\u4e00-\u9fff]{{1,4}})?({part_alt})", tail)
        unit = m.group(2)
        priority = 0 if pm else (1 if unit in ("个版本", "种版本", "版", "种", "款") or tail.startswith("版") else 2)
        found.append((priority, m.start(), parts[pm.group(1)] if pm else None, n))
    words = v["numbers"]["en"]
    num_alt = "|".join([r"\d+", *(re.escape(w) for w in sorted(words, key=len, reverse=True))])
    en_units = "|".join(re.escape(u) for u in sorted(v["count_units"]["en"], key=len, reverse=True))
    for m in re.finditer(rf"(?<![a-z0-9])({num_alt})\s+((?:[a-z-]+\s+){{0,3}}?)({en_units})(?![a-z])", low):
        raw = m.group(1)
        n = int(raw) if raw.isdigit() else words[raw]
        if n == 0:
            continue
        unit = m.group(3)
        part = parts.get(unit) or next((parts[p] for p in parts if p in m.group(2)), None)
        priority = 0 if part else (1 if unit.startswith(("variant", "version", "option", "alternative")) else 2)
        found.append((priority, m.start(), part, n))
    if not found:
        return None, None
    _, _, part, n = min(found)
    return n, part


def _length(low: str) -> tuple[int | None, int | None]:
    lv = vocab()["length"]
    max_chars = max_words = None
    for pattern in [*lv["max_chars_zh"], *lv["max_chars_en"]]:
        m = re.search(pattern.replace(r"(\d+)", rf"({_ZH_NUM})"), low)
        if m and (n := zh_number(m.group(1))):
            max_chars = n if max_chars is None else min(max_chars, n)
    for pattern in lv["max_words_en"]:
        m = re.search(pattern, low)
        if m:
            max_words = int(m.group(1))
    return max_chars, max_words


def _ordinal(message: str, low: str) -> int | None:
    ov = vocab()["ordinal"]
    units = "|".join(re.escape(u) for u in ov["zh_units"])
    m = re.search(rf"第\s*({_ZH_NUM})\s*(?:{units})?", message)
    if m and (n := zh_number(m.group(1))):
        return n
    m = re.search(rf"(?:版本|方案|选项)\s*({_ZH_NUM})", message)
    if m and (n := zh_number(m.group(1))):
        return n
    nouns = "|".join(re.escape(n) for n in ov["en_nouns"])
    m = re.search(rf"\b({'|'.join(ov['en_words'])})\s+(?:{nouns})\b", low)
    if m:
        return int(ov["en_words"][m.group(1)])
    m = re.search(rf"\b(?:{nouns}|no\.?|number|#)\s*#?\s*(\d)\b", low)
    if m:
        return int(m.group(1))
    return None


def _tone(low: str) -> str | None:
    return _first_hit(low, vocab()["tone"])


def _audience(message: str, low: str) -> str | None:
    av = vocab()["audience"]
    zh_people = "|".join(re.escape(p) for p in sorted(av["zh_people"], key=len, reverse=True))
    stops = sorted(av["zh_stop"], key=len, reverse=True)
    for intro in av["zh_intro"]:
        pos = message.find(intro)
        if pos < 0:
            continue
        rest = message[pos + len(intro) :].lstrip("：: ")
        cut = min([i for s in stops if (i := rest.find(s)) > 0] or [len(rest)])
        if rest[cut : cut + 1] == "的":
            # "面向快消品牌的渠道经理": the people after 的 are the audience; "面向客户的文案" stops at 的.
            tail = re.match(rf"的([^，。、；！？\s]{{0,6}}?(?:{zh_people}))", rest[cut:])
            if tail:
                cut += len(tail.group(0))
        phrase = rest[:cut].strip()
        if 2 <= len(phrase) <= 20:
            return phrase
    # "给老客户发一条…": 给 + a phrase ending in a word for people + a verb of sending or writing.
    m = re.search(rf"给([^，。、；！？\s给]{{0,10}}?(?:{zh_people}))(?:们)?(?:发|写|推送|群发|做)", message)
    if m:
        return m.group(1)
    people = "|".join(re.escape(p) for p in sorted(av["en_people"], key=len, reverse=True))
    for intro in sorted(av["en_intro"], key=len, reverse=True):
        m = re.search(rf"\b{re.escape(intro)}\s+((?:[a-z0-9&/-]+\s+){{0,4}}?(?:{people}))\b", low)
        if m:
            phrase = re.sub(r"^(?:our|the|all|all our|existing)\s+", "", m.group(1))
            start = low.find(phrase, m.start())
            return message[start : start + len(phrase)] if start >= 0 else phrase
    return None


def _swap_pronouns(text: str, lang: str) -> str:
    table = vocab()["plan"]["zh_pronouns" if lang == "zh" else "en_pronouns"]
    if lang == "zh":
        for a in sorted(table, key=len, reverse=True):
            text = text.replace(a, table[a])
        return text
    alt = "|".join(re.escape(a) for a in sorted(table, key=len, reverse=True))

    def repl(m: re.Match[str]) -> str:
        out = str(table[m.group(0).lower()])
        return out.capitalize() if m.group(0)[0].isupper() else out

    text = re.sub(rf"\b(?:{alt})\b", repl, text, flags=re.IGNORECASE)
    # "you is/has/was" after a swap of "he is"-less phrasings: keep English grammatical.
    agree = {"is": "are", "has": "have", "was": "were"}
    return re.sub(r"\byou (is|has|was)\b", lambda m: "you " + agree[m.group(1)], text)


def _instruction_clause(clause: str) -> bool:
    """A clause that is about the writing (tone, length, language), not about what to tell the customer."""
    low = clause.lower()
    v = vocab()
    tables = [v["tone"], v["language"], {"s": v["length"]["shorter"], "l": v["length"]["longer"]}]
    if any(_has(low, p.lower()) for t in tables for ps in t.values() for p in ps):
        return True
    if any(_has(low, p.lower()) for p in v.get("about_writing", [])):
        return True
    return bool(_length(low)[0] or _length(low)[1])


def _stated(message: str) -> list[str]:
    pv = vocab()["plan"]
    lang = "zh" if has_cjk(message) else "en"
    low = message.lower()
    intros = sorted(pv["zh_intro"] if lang == "zh" else pv["en_intro"], key=len, reverse=True)
    best: tuple[int, int] | None = None
    for intro in intros:
        pos = _find(low, intro.lower())
        if pos >= 0 and (best is None or pos < best[0]):
            best = (pos, pos + len(intro))
    rest = ""
    if best is not None:
        rest = message[best[1] :]
    else:
        m = re.search(r"(?:回复|回|reply|respond|answer)[^：:\n]{0,8}[：:]\s*(.+)", message, re.IGNORECASE)
        say = "|".join(re.escape(w) for w in pv["zh_reply_say"])
        m = m or re.search(rf"(?:{say})[^。！？\n说]{{0,8}}?[，,]?\s*(?:就)?说(?!明)[:：]?\s*(.+)", message)
        if m:
            rest = m.group(1)
    if not rest:
        return _asked(message, lang) or _service_clauses(message, lang)
    rest = re.sub(r"^[\s,，:：]*(?:说|一下|一声|下)?[\s,，:：]*", "", rest)
    end = min([i for c in _SENTENCE_END if (i := rest.find(c)) >= 0] or [len(rest)])
    sentence = rest[:end]
    if lang == "en":
        # "... tomorrow morning. Keep it short" — an English full stop also ends the statement.
        sentence = re.split(r"\.(?:\s|$)", sentence)[0]
    kept: list[str] = []
    for clause in re.split(r"[，,；;]", sentence):
        if not clause.strip():
            continue
        if _instruction_clause(clause):
            break
        kept.append(clause.strip())
    joiner = "，" if lang == "zh" else ", "
    text = _swap_pronouns(joiner.join(kept), lang).strip(" 。.")
    if len(text) < (3 if lang == "zh" else 6):
        return []
    return [text[0].upper() + text[1:] if lang == "en" else text, *_asked(message, lang)]


def _asked(message: str, lang: str) -> list[str]:
    """A question the agent wants put to the customer, as the reply asks it."""
    pv = vocab()["plan"]
    low = message.lower()
    for intro in sorted(pv["zh_ask"] if lang == "zh" else pv["en_ask"], key=len, reverse=True):
        pos = _find(low, intro.lower())
        if pos < 0:
            continue
        rest = message[pos + len(intro) :].lstrip("：:，, ")
        end = min([i for c in "。！？!?\n；;" if (i := rest.find(c)) >= 0] or [len(rest)])
        if lang == "en":
            end = min(end, m.start()) if (m := re.search(r"\.(?:\s|$)", rest)) else end
        kept: list[str] = []
        for clause in re.split(r"([，,])", rest[:end])[::2]:
            if _instruction_clause(clause):
                break  # "…, keep it short": the rest is about the writing
            kept.append(clause.strip())
        question = _swap_pronouns(("，" if lang == "zh" else ", ").join(k for k in kept if k), lang)
        if len(question) < 2:
            return []
        if lang == "en" and intro.endswith((" to", " they")):
            return [f"Could you please {question}?"]
        if lang == "zh" and intro.startswith(("请", "让")):
            verb = re.sub(r"^[请让](?:客户|他|她)", "", intro)  # "请客户确认" → "确认"
            return [f"请您{verb}{question}"]
        if lang == "zh":
            return [f"想跟您确认一下：{question}？"]
        return [f"Could you let us know {question}?"]
    return []


def _service_clauses(message: str, lang: str) -> list[str]:
    """No intro word: clauses after the first whose subject is the service side are the agent's plan."""
    pv = vocab()["plan"]
    subjects = pv["zh_subjects"] if lang == "zh" else pv["en_subjects"]
    clauses = [c.strip() for c in re.split(r"[，,；;。.!！?？\n]", message) if c.strip()]
    kept = [
        c
        for c in clauses[1:]
        if c.lower().startswith(tuple(s.lower() for s in subjects)) and not _instruction_clause(c)
    ]
    if not kept:
        return []
    text = _swap_pronouns(("，" if lang == "zh" else ", ").join(kept), lang)
    return [text[0].upper() + text[1:] if lang == "en" else text]


def read_instructions(message: str, locale: str | None = None) -> Instructions:
    """Everything the words say about the text wanted. ``locale`` is the caller's; the language of the
    output is only set when the words ask for one ("in English", "用中文")."""
    message = message or ""
    low = message.lower()
    count, part = _count(message, low)
    max_chars, max_words = _length(low)
    lv = vocab()["length"]
    inst = Instructions(
        language=_language(low),
        count=min(count, MAX_COUNT) if count else None,
        channels=channels_in(low),
        max_chars=max_chars,
        max_words=max_words,
        tone=_tone(low),
        shorter=any(_has(low, p.lower()) for p in lv["shorter"]),
        longer=any(_has(low, p.lower()) for p in lv["longer"]),
        audience=_audience(message, low),
        ordinal=_ordinal(message, low),
        part=part,
        rephrase=any(_has(low, p.lower()) for p in vocab()["rephrase"]),
        stated=_stated(message),
    )
    if count and count > MAX_COUNT:
        inst.unmet.append(f"count:{count}>{MAX_COUNT}")
    return inst


def checks_done(text: str) -> bool:
    """The customer says they already did what was asked ("按你说的做了", "we already checked")."""
    low = (text or "").lower()
    cv = vocab()["checks_done"]
    return any(_has(low, p.lower()) for p in [*cv["zh"], *cv["en"]])


def char_count(text: str) -> int:
    """Characters as a Chinese marketer (and an SMS gateway) counts them: every character is one — a
    汉字, a letter, a digit, a full- or half-width punctuation mark, a space. Line breaks do not count."""
    return len((text or "").replace("\n", ""))


def word_count(text: str) -> int:
    return len(re.findall(r"[A-Za-z0-9][\w'’-]*|[\u4e00-\u9fff]", text or ""))


def trim_to(text: str, limit: int, tail: str = "") -> str:
    """``text`` (+ ``tail``) within ``limit`` characters, cut at clause boundaries: the opening clause (it names
    the subject) whole or up to a '：'/'、' inside it, then the later clauses that still fit, each whole. A hard
    cut with '…' (at a space when there is one near) only when not even a piece of the opening fits."""
    if char_count(text + tail) <= limit:
        return text + tail
    room = limit - char_count(tail)
    clauses = re.findall(r"[^，。；！？,;!?]+[，。；！？,;!?]?", text)
    out = ""
    if clauses and char_count(clauses[0]) <= room:
        for clause in clauses:
            # A later clause that does not fit is dropped whole; a shorter one after it may still fit.
            if char_count(out + clause) <= room:
                out += clause
    elif clauses:
        for piece in re.findall(r"[^：:、]+[：:、]?", clauses[0]):
            if char_count(out + piece) > room:
                break
            out += piece
    if not out.strip(" ，,；;：:、"):  # not even a piece of the opening fits: only then cut mid-sentence
        cut = text.replace("\n", " ")[: max(room - 1, 0)]
        space = cut.rfind(" ")
        cut = (cut[:space] if space >= len(cut) - 10 and space > 0 else cut).rstrip()
        cut = re.sub(r"\s*(?:至|到|和|与|及|-|~|to|and|from)$", "", cut)  # "2026-12-05 至…": no dangling link word
        out = cut + "…"
    return out.rstrip("，,；; ：:、") + tail
