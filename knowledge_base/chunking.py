"""Document → chunks that keep their headings.

Each Markdown section (text under one heading) is split into sentences — Chinese at 。！？；, English
at . ! ? followed by a space, list items and lines as their own units — and sentences are packed
greedily up to ``max_chars``; a section that fits stays whole. The next chunk of the same section
starts with the previous chunk's last sentence when that one is short (``overlap_chars``), so a fact
that straddles a boundary is findable from either side. A short section is merged into the next one
under the same parent instead of producing a chunk of three words.

Every chunk carries its heading path ("E-204 排查 > 排查步骤"): the indexer puts the document title
and that path in front of the text it embeds, which is what makes a bare list item retrievable.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from knowledge_base.documents import Document

CHUNKER_VERSION = "1"
MAX_CHARS = 480
MIN_SECTION_CHARS = 120
OVERLAP_CHARS = 120

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
# A sentence ends at Chinese 。！？； (plus closing quotes) or at . ! ? ; followed by whitespace.
_SENTENCE_END = re.compile(r"(?<=[。！？；!?])[”’」』）)]*|(?<=[.;])(?=\s)")


@dataclass(frozen=True)
class Chunk:
    doc_id: str
    ordinal: int
    text: str
    heading: str  # " > "-joined heading path, without the document title

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(f"{self.heading}\x00{self.text}".encode()).hexdigest()[:12]


@dataclass
class _Section:
    path: tuple[str, ...]
    lines: list[str]

    @property
    def text(self) -> str:
        return "\n".join(self.lines).strip()


def _sections(body: str, title: str) -> list[_Section]:
    sections = [_Section((), [])]
    stack: list[tuple[int, str]] = []
    in_code = False
    for line in body.splitlines():
        if line.strip().startswith("```"):
            in_code = not in_code
        match = None if in_code else _HEADING.match(line)
        if match:
            level, text = len(match.group(1)), match.group(2).strip()
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, text))
            # The top heading usually repeats the title; leaving it out of the path avoids noise.
            path = tuple(t for lvl, t in stack if not (lvl == 1 and _same(t, title)))
            sections.append(_Section(path, []))
        else:
            sections[-1].lines.append(line)
    return [s for s in sections if s.text or not s.path]


def _same(a: str, b: str) -> bool:
    norm = lambda s: re.sub(r"\W+", "", s).lower()  # noqa: E731
    return bool(norm(a)) and (norm(a) in norm(b) or norm(b) in norm(a))


def _merge_small(sections: list[_Section]) -> list[_Section]:
    """Fold a tiny section into the following sibling/child so chunks carry enough context."""
    out: list[_Section] = []
    pending: _Section | None = None
    for section in sections:
        if not section.text:
            continue
        if pending is not None:
            shared = section.path[: len(pending.path) - 1] == pending.path[:-1] or section.path[
                : len(pending.path)
            ] == pending.path
            if shared and len(pending.text) + len(section.text) <= MAX_CHARS:
                heading_line = f"{section.path[-1]}：\n" if section.path and section.path != pending.path else ""
                section = _Section(pending.path, [pending.text, heading_line + section.text])
            else:
                out.append(pending)
            pending = None
        if len(section.text) < MIN_SECTION_CHARS:
            pending = section
        else:
            out.append(section)
    if pending is not None:
        out.append(pending)
    return out


def split_sentences(text: str) -> list[tuple[str, bool]]:
    """Sentences of a section, each flagged when it starts a new source line (list item, table row)."""
    units: list[tuple[str, bool]] = []
    for line in text.splitlines():
        parts = [p.strip() for p in _SENTENCE_END.split(line.strip())]
        parts = [p for p in parts if p]
        for i, part in enumerate(parts):
            # A "sentence" longer than the budget (a table row, a URL dump) is cut hard.
            first = True
            while len(part) > MAX_CHARS:
                units.append((part[:MAX_CHARS], i == 0 and first))
                part = part[MAX_CHARS - OVERLAP_CHARS // 2 :]
                first = False
            units.append((part, i == 0 and first))
    return units


def _join(units: list[tuple[str, bool]]) -> str:
    text = ""
    for sentence, new_line in units:
        if not text:
            text = sentence
        elif new_line:
            text += "\n" + sentence
        elif re.search(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]$", text):
            text += sentence  # Chinese needs no space between sentences
        else:
            text += " " + sentence
    return text


def _pack(units: list[tuple[str, bool]]) -> list[str]:
    chunks: list[list[tuple[str, bool]]] = []
    current: list[tuple[str, bool]] = []
    size = 0
    for unit in units:
        if current and size + len(unit[0]) > MAX_CHARS:
            chunks.append(current)
            tail = current[-1]
            current = [tail] if len(tail[0]) <= OVERLAP_CHARS else []
            size = sum(len(u[0]) for u in current)
        current.append(unit)
        size += len(unit[0])
    if current and (not chunks or current != chunks[-1][-1:]):
        chunks.append(current)
    return [_join(c) for c in chunks]


def chunk_document(document: Document) -> list[Chunk]:
    chunks: list[Chunk] = []
    for section in _merge_small(_sections(document.body, document.title)):
        heading = " > ".join(section.path)
        for text in _pack(split_sentences(section.text)):
            chunks.append(Chunk(document.doc_id, len(chunks), text, heading))
    return chunks


def embedding_text(title: str, chunk: Chunk) -> str:
    """What the model and BM25 see: the chunk in its context (title and headings first)."""
    head = f"{title} > {chunk.heading}" if chunk.heading else title
    return f"{head}\n{chunk.text}"
