"""Advertising-law wording check: banned absolute terms → the brand guide's suggested wording.

The rules are not a list in code: they are the tables of the brand guides in the knowledge base
(``## 禁用绝对化用语`` with ``| 禁用词 | 替换建议 |``, and the English companion's
``| banned term | use instead |``). Marketing edits the guide; the check follows on the next load.

A suggestion is often advice ("删除，或改为…", "state the measured figure…") rather than a drop-in
word. The replacement is its first concrete alternative; advice, placeholders (××, "(year)") and
"delete" mean the term is removed and the change is flagged for the human review the guide requires.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

CORPUS_DIR = Path(__file__).resolve().parent.parent / "knowledge_base" / "corpus"
TABLE_HEADERS = (("禁用词", "替换建议"), ("banned term", "use instead"))
# Fixed phrases that contain a banned word but are not claims; rewritten before the guide's table
# so that "Best regards" does not become "Reliable regards".
SET_PHRASES = {"best regards": "Kind regards", "best wishes": "Kind wishes", "all the best": "Kind regards"}
_ADVICE_ZH = ("删除", "写出", "写明", "引用", "附")
_ADVICE_EN = ("state ", "cite ", "name ", "give ", "quote ", "describe ")
_PLACEHOLDER = re.compile(r"××|\(|（|\bX\b")


@dataclass(frozen=True)
class Rule:
    term: str
    suggestion: str
    replacement: str  # "" = remove the term
    lang: str
    source: str  # the guide's doc id

    @property
    def needs_review(self) -> bool:
        return self.replacement == "" or "依据" in self.suggestion or "evidence" in self.suggestion


@dataclass
class ComplianceReport:
    text: str
    rewritten: list[dict[str, str]] = field(default_factory=list)
    flagged: list[dict[str, str]] = field(default_factory=list)

    def as_data(self) -> dict[str, Any]:
        return {"rewritten": self.rewritten, "flagged": self.flagged}


def _replacement(suggestion: str, lang: str) -> str:
    s = suggestion.strip().strip('"“”')
    if lang == "zh":
        if s.startswith(_ADVICE_ZH):
            return ""
        first = re.split(r"\s*/\s*|，|；", s)[0].strip().strip('"“”')
    else:
        if s.lower().startswith(_ADVICE_EN):
            return ""
        first = re.split(r"\s*[,;]\s*", s)[0].strip()
    # "国际水准（需有依据）" → keep the words, drop the note; "具有××特色" has a hole → remove instead.
    first = re.sub(r"（需[^）]*）|\((?:with|state|name)[^)]*\)", "", first).strip()
    if not first or _PLACEHOLDER.search(first) or re.search(r"\d", first):
        return ""
    return first


def parse_guide(text: str, source: str) -> list[Rule]:
    """Rows of the banned-term tables in one guide document (any language)."""
    rules: list[Rule] = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        cells = [c.strip().lower() for c in line.strip().strip("|").split("|")]
        lang = next((("zh", "en")[k] for k, hdr in enumerate(TABLE_HEADERS) if tuple(cells[:2]) == hdr), None)
        if lang is None:
            continue
        for row in lines[i + 2 :]:
            if not row.strip().startswith("|"):
                break
            parts = [c.strip() for c in row.strip().strip("|").split("|")]
            if len(parts) < 2 or not parts[0]:
                continue
            term = re.sub(r"\s*[（(][^)）]*[)）]\s*$", "", parts[0]).strip()  # "cure (IVD products)" → "cure"
            rules.append(Rule(term, parts[1], _replacement(parts[1], lang), lang, source))
    return rules


def _split_front_matter(raw: str) -> tuple[dict[str, Any], str]:
    if raw.startswith("---"):
        _, fm, body = raw.split("---", 2)
        return yaml.safe_load(fm) or {}, body
    return {}, raw


def guide_documents(corpus: Path = CORPUS_DIR) -> list[tuple[str, str]]:
    """(doc id, body) of every corpus document that holds a banned-term table."""
    docs = []
    for path in sorted(corpus.glob("*.md")):
        raw = path.read_text(encoding="utf-8")
        if not any(f"| {a} | {b} |" in raw.lower() for a, b in TABLE_HEADERS):
            continue
        _, body = _split_front_matter(raw)
        docs.append((path.stem, body))
    return docs


@lru_cache(maxsize=4)
def _rules_cached(corpus: str, stamp: tuple[float, ...]) -> tuple[Rule, ...]:
    rules: list[Rule] = []
    for doc, body in guide_documents(Path(corpus)):
        rules.extend(parse_guide(body, doc))
    # Longest first: "最先进" must win over "最", "number one" over "one"-like prefixes.
    return tuple(sorted(rules, key=lambda r: -len(r.term)))


def load_rules(corpus: Path = CORPUS_DIR) -> tuple[Rule, ...]:
    """The guide's rules, cached until a guide file changes (its mtime is part of the cache key)."""
    stamp = tuple(p.stat().st_mtime for p in sorted(corpus.glob("*.md")))
    rules = _rules_cached(str(corpus), stamp)
    if not rules:
        raise RuntimeError(f"no banned-term table found in the brand guides under {corpus}")
    return rules


def banned_terms(lang: str | None = None) -> list[str]:
    return [r.term for r in load_rules() if lang is None or r.lang == lang]


def _pattern(rule: Rule) -> re.Pattern[str]:
    escaped = re.escape(rule.term)
    if rule.term.isascii() and rule.term[:1].isalnum():
        return re.compile(rf"(?<![A-Za-z0-9]){escaped}(?![A-Za-z0-9])", re.IGNORECASE)
    return re.compile(escaped, re.IGNORECASE)


def find_banned(text: str, rules: Iterable[Rule] | None = None) -> list[str]:
    """Banned terms present in ``text`` (what a reviewer would circle)."""
    return [r.term for r in (rules or load_rules()) if _pattern(r).search(text)]


def _tidy(text: str) -> str:
    text = re.sub(r"([、，,])\s*(?=[、，。,.!！])", "", text)  # a list item that was a banned word
    text = re.sub(r"(^|\n)\s*[、，]", r"\1", text)
    text = re.sub(r"[ \t]{2,}", " ", text)
    text = re.sub(r"\s+([,.;!?])", r"\1", text)
    return text


def check(text: str) -> ComplianceReport:
    """Rewrite every banned term with the guide's suggestion; report each change."""
    rules = load_rules()
    report = ComplianceReport(text=text)
    out = text
    for phrase, repl in SET_PHRASES.items():
        out = re.sub(re.escape(phrase), repl, out, flags=re.IGNORECASE)
    for rule in rules:
        pattern = _pattern(rule)
        count = len(pattern.findall(out))
        if not count:
            continue
        out = pattern.sub(rule.replacement, out)
        change = {"term": rule.term, "replacement": rule.replacement, "count": str(count), "source": rule.source}
        report.rewritten.append(change)
        if rule.needs_review:
            report.flagged.append({"term": rule.term, "reason": rule.suggestion, "source": rule.source})
    report.text = _tidy(out)
    return report
