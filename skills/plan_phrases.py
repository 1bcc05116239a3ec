"""A stated plan in the other language, from a small bilingual phrase table (``vocab/plan_phrases.yaml``).

Offline there is no translator. The plans agents state most ("工程师周四下午上门", "the engineer will call
them tomorrow morning", "备件明天到", "固件升级包已经发到邮箱") are few; they are recognised by an event and a
time and said again in the reply's language. A plan the table cannot say whole returns None: the caller
keeps the agent's words and tells the agent, rather than mixing languages silently.

    render_plan("the engineer will call you tomorrow morning", "zh") → "工程师明天上午会给您打电话"
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from copilot.core.locale import has_cjk

PATH = Path(__file__).parent / "vocab" / "plan_phrases.yaml"
# A plan longer than this says more than one event and a time: the table would drop part of it.
MAX_ZH_CHARS = 22
MAX_EN_WORDS = 14


@lru_cache(maxsize=1)
def _table() -> dict[str, Any]:
    return yaml.safe_load(PATH.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def _hit(low: str, words: list[str]) -> bool:
    for w in words:
        w = w.lower()
        if w.isascii() and re.search(rf"(?<![a-z]){re.escape(w)}(?![a-z])", low):
            return True
        if not w.isascii() and w in low:
            return True
    return False


def _time(low: str, src: str, lang: str) -> str:
    """The time words of the plan, said in ``lang`` ("" when it names none)."""
    t = _table()
    day = next((d for d in t["weekdays"] if _hit(low, d[src])), None)
    part = next((p for p in t["day_parts"] if _hit(low, p[src])), None)
    if day is not None:
        if lang == "zh":
            return str(day["say_zh"]) + (str(part["say_zh"]) if part else "")
        return f"on {day['say_en']}" + (f" {part['say_en']}" if part else "")
    for entry in t["times"]:
        if _hit(low, entry[src]):
            return str(entry[f"say_{lang}"])
    return ""


def render_plan(text: str, lang: str) -> str | None:
    """``text`` said in ``lang``; the text itself when it is in ``lang`` already; None when the table
    cannot say it whole."""
    src = "zh" if has_cjk(text) else "en"
    if src == lang:
        return text
    low = text.lower()
    if (src == "zh" and len(re.sub(r"\s", "", text)) > MAX_ZH_CHARS) or (
        src == "en" and len(low.split()) > MAX_EN_WORDS
    ):
        return None
    for event in _table()["events"]:
        if all(_hit(low, group) for group in event[f"all_{src}"]):
            when = _time(low, src, lang)
            out = str(event[lang]).replace("{time}", when)
            return re.sub(r"\s+", " ", out).strip()
    return None
