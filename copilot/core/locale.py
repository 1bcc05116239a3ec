"""One locale detector for every surface and skill: Chinese when the text has Chinese characters,
English when it has Latin words only, else the caller's default."""

from __future__ import annotations

import re
from typing import Literal

Locale = Literal["zh", "en"]
_CJK = re.compile(r"[\u3400-\u9fff]")
_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")


def has_cjk(text: str) -> bool:
    return bool(_CJK.search(text or ""))


def detect_locale(text: str, default: Locale = "zh") -> Locale:
    if has_cjk(text):
        return "zh"
    if _LATIN_WORD.search(text or ""):
        return "en"
    return default
