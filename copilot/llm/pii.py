"""Mask personal data before text leaves for an external model, and restore it in the answer.

Each distinct value gets a stable placeholder for the turn (``⟦PHONE_1⟧``, ``⟦EMAIL_1⟧``, ``⟦IDCARD_1⟧``,
``⟦BANKCARD_1⟧``, ``⟦LANDLINE_1⟧``, ``⟦NAME_1⟧``), so the model can still say "call ⟦PHONE_1⟧" and the
user reads the real number. Numbers with checksums (ID cards, bank cards) are validated so that order
numbers and serials are not masked by accident.

Round trip is exact for any input: text that already looks like a placeholder is itself masked (as
``⟦RAW_n⟧``), so ``unmask(mask(x)) == x`` always holds.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

PLACEHOLDER = re.compile(r"⟦([A-Z]+)_(\d+)⟧")
# The longest prefix of a placeholder that may sit at the end of a streamed chunk.
_PARTIAL_PLACEHOLDER = re.compile(r"⟦[A-Z]*(?:_\d*)?$")
_MAX_PLACEHOLDER_LEN = 24

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"

EMAIL = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
)
ID_CARD = re.compile(r"(?<![0-9A-Za-z])\d{17}[0-9Xx](?![0-9A-Za-z])")
# 16–19 digits, plain or in groups separated by single spaces/dashes.
BANK_CARD = re.compile(r"(?<![\d-])\d{4}(?:[ -]?\d{2,4}){3,4}(?![\d-])")
MOBILE = re.compile(r"(?<![\d+])(?:(?:\+|00)86[ -]?)?1[3-9]\d(?:[ -]?\d{4}){2}(?!\d)")
LANDLINE = re.compile(r"(?<![\d-])0\d{2,3}-\d{7,8}(?![\d-])")


def valid_id_card(number: str) -> bool:
    """GB 11643 checksum plus a plausible birth date, so an 18-digit order number is not taken for one."""
    if len(number) != 18 or not number[:17].isdigit():
        return False
    year, month, day = int(number[6:10]), int(number[10:12]), int(number[12:14])
    if not (1900 <= year <= 2100 and 1 <= month <= 12 and 1 <= day <= 31):
        return False
    total = sum(int(d) * w for d, w in zip(number[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == number[17].upper()


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2 == 1:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def _bank_card_ok(text: str) -> bool:
    digits = re.sub(r"[ -]", "", text)
    return 16 <= len(digits) <= 19 and luhn_ok(digits)


@dataclass(frozen=True)
class _Span:
    start: int
    end: int
    kind: str


# Earlier kinds win when two candidates start at the same place.
_PRIORITY = {"RAW": 0, "EMAIL": 1, "IDCARD": 2, "BANKCARD": 3, "PHONE": 4, "LANDLINE": 5, "NAME": 6}


class Masker:
    """One turn's mapping. ``mask`` may be called on several messages; the numbering is shared."""

    def __init__(self, names: Iterable[str] = (), *, landlines: bool = True) -> None:
        # Longest first, so 王建国 is not masked as 王建 + 国 when both are configured.
        uniq = {n.strip() for n in names if n and len(n.strip()) >= 2}
        self._names = sorted(uniq, key=len, reverse=True)
        self._names_re = re.compile("|".join(re.escape(n) for n in self._names)) if self._names else None
        self._landlines = landlines
        self._by_value: dict[tuple[str, str], str] = {}
        self._by_placeholder: dict[str, str] = {}
        self._counters: dict[str, int] = {}

    @property
    def counts(self) -> dict[str, int]:
        """How many distinct values of each kind were masked (never the values themselves)."""
        return {k: v for k, v in self._counters.items() if k != "RAW"}

    @property
    def mapping(self) -> dict[str, str]:
        return dict(self._by_placeholder)

    def _candidates(self, text: str) -> list[_Span]:
        spans = [_Span(m.start(), m.end(), "RAW") for m in PLACEHOLDER.finditer(text)]
        spans += [_Span(m.start(), m.end(), "EMAIL") for m in EMAIL.finditer(text)]
        spans += [_Span(m.start(), m.end(), "IDCARD") for m in ID_CARD.finditer(text) if valid_id_card(m.group())]
        spans += [_Span(m.start(), m.end(), "BANKCARD") for m in BANK_CARD.finditer(text) if _bank_card_ok(m.group())]
        spans += [_Span(m.start(), m.end(), "PHONE") for m in MOBILE.finditer(text)]
        if self._landlines:
            spans += [_Span(m.start(), m.end(), "LANDLINE") for m in LANDLINE.finditer(text)]
        if self._names_re is not None:
            spans += [_Span(m.start(), m.end(), "NAME") for m in self._names_re.finditer(text)]
        return spans

    def _placeholder(self, kind: str, value: str) -> str:
        key = (kind, value)
        if key not in self._by_value:
            self._counters[kind] = self._counters.get(kind, 0) + 1
            ph = f"⟦{kind}_{self._counters[kind]}⟧"
            self._by_value[key] = ph
            self._by_placeholder[ph] = value
        return self._by_value[key]

    def mask(self, text: str) -> str:
        spans = sorted(self._candidates(text), key=lambda s: (s.start, _PRIORITY[s.kind], -s.end))
        out, pos = [], 0
        for span in spans:
            if span.start < pos:
                continue  # overlaps a span already taken
            out.append(text[pos : span.start])
            out.append(self._placeholder(span.kind, text[span.start : span.end]))
            pos = span.end
        out.append(text[pos:])
        return "".join(out)

    def unmask(self, text: str) -> str:
        # One pass: a restored value is never scanned again, so values that look like placeholders stay put.
        return PLACEHOLDER.sub(lambda m: self._by_placeholder.get(m.group(), m.group()), text)

    def unmask_data(self, value: object) -> object:
        """Restore placeholders inside parsed JSON (dicts, lists, strings)."""
        if isinstance(value, str):
            return self.unmask(value)
        if isinstance(value, list):
            return [self.unmask_data(v) for v in value]
        if isinstance(value, dict):
            return {k: self.unmask_data(v) for k, v in value.items()}
        return value

    def stream_unmasker(self) -> StreamUnmasker:
        return StreamUnmasker(self)


class StreamUnmasker:
    """Unmask streamed deltas. A placeholder split across chunks (``⟦PHO`` + ``NE_1⟧``) is held back until
    it is complete, and never more than a placeholder's length is held."""

    def __init__(self, masker: Masker) -> None:
        self._masker = masker
        self._buffer = ""

    def feed(self, chunk: str) -> str:
        self._buffer += chunk
        m = _PARTIAL_PLACEHOLDER.search(self._buffer)
        if m and len(self._buffer) - m.start() < _MAX_PLACEHOLDER_LEN:
            ready, self._buffer = self._buffer[: m.start()], self._buffer[m.start() :]
        else:
            ready, self._buffer = self._buffer, ""
        return self._masker.unmask(ready)

    def flush(self) -> str:
        rest, self._buffer = self._buffer, ""
        return self._masker.unmask(rest)
