"""Shared grounding helpers for the writing skills: KB search as cited facts, article sections, dates.

Knowledge-base access always goes through ``ctx.knowledge`` (skills/ports.py), which is bound to the
asker's ACL, so the filter is inside the query (design.md); nothing here re-implements visibility.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Iterable, Sequence

from copilot.llm.trust import sanitize_snippets
from retrievers.facts import Fact
from retrievers.hybrid import SearchHit
from skills.base import SkillContext

# Article headings (zh and en) → one canonical section name the skills ask for.
SECTION_ALIASES: dict[str, tuple[str, ...]] = {
    "symptoms": ("现象", "symptoms", "symptom"),
    "causes": ("可能原因", "possible causes", "likely causes", "causes"),
    "steps": ("排查步骤", "处理步骤", "troubleshooting steps", "steps"),
    "parts": ("所需备件", "备件", "spare parts", "parts"),
    "escalate": ("何时升级", "升级", "when to escalate", "escalation"),
    "specs": ("主要规格", "key specifications", "specifications"),
    "features": (
        "产品特点",
        "产品亮点",
        "key features",
        "features",
        "highlights",
        "what makes it",
        "what you get",
        "what customers value",
    ),
    "customers": ("适用客户", "典型应用", "typical customers", "typical applications", "who it is for"),
    "warranty": ("质保与服务", "warranty and service", "warranty"),
}
_HEADING = re.compile(r"^\s{0,3}#{2,4}\s+(.+?)\s*#*\s*$")
_INLINE_HEADING = re.compile(r"^\s*([^\s|#\-*\d][^：:|]{0,30})[：:]\s*$")  # "现象：" inside a merged chunk
_ITEM = re.compile(r"^\s*(?:\d+[.、)]|[-*•])\s+(.*\S)\s*$")
_TABLE_ROW = re.compile(r"^\s*\|(.+)\|\s*$")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{2,}")


def canonical_section(heading: str) -> str | None:
    h = re.sub(r"[*_`]", "", heading).strip().lower()
    for name, aliases in SECTION_ALIASES.items():
        if any(h == a or h.startswith(a) for a in aliases):
            return name
    return None


def parse_sections(text: str) -> dict[str, list[str]]:
    """Items per canonical section: numbered/bulleted lines, or table rows joined as "a：b（c）"."""
    out: dict[str, list[str]] = OrderedDict()
    current: str | None = None
    header_seen = False
    for line in text.splitlines():
        m = _HEADING.match(line) or _INLINE_HEADING.match(line)
        if m and (_HEADING.match(line) or canonical_section(m.group(1))):
            current = canonical_section(m.group(1))
            header_seen = False
            continue
        if current is None:
            continue
        if _TABLE_RULE.match(line):
            continue
        row = _TABLE_ROW.match(line)
        if row:
            cells = [c.strip() for c in row.group(1).split("|")]
            if not header_seen:  # the first row of a table is its header
                header_seen = True
                if current != "specs" or not any(ch.isdigit() for ch in "".join(cells)):
                    continue
            item = cells[0] + (f" {cells[1]}" if len(cells) > 1 and cells[1] else "")
            if len(cells) > 2 and cells[2]:
                item += f"（{cells[2]}）"
            out.setdefault(current, []).append(item)
            continue
        item_m = _ITEM.match(line)
        if item_m:
            out.setdefault(current, []).append(re.sub(r"\*\*(.+?)\*\*", r"\1", item_m.group(1)))
    return out


def hit_to_fact(hit: SearchHit) -> Fact:
    """A KB hit as a citable Fact (id ``kb:<chunk id>``)."""
    meta: dict[str, object] = {}
    for key in ("heading", "lang", "products", "visibility", "source", "title"):
        value = getattr(hit, key)
        if value not in ("", ()):
            meta[key] = list(value) if isinstance(value, tuple) else value
    chunk_id = hit.chunk_id or hit.doc_id
    meta["doc_id"] = hit.doc_id
    meta["chunk_id"] = chunk_id
    m = re.search(r"#(\d+)", chunk_id)  # "<doc>#0003-<hash>": the chunk's position in its document
    meta["ordinal"] = int(m.group(1)) if m else 0
    meta["score"] = float(hit.score)
    fact_id = chunk_id if chunk_id.startswith("kb:") else f"kb:{chunk_id}"
    return Fact(id=fact_id, type="kb", title=hit.title or hit.doc_id, text=hit.text, meta=meta)


def kb_search(ctx: SkillContext, query: str, k: int = 6) -> list[Fact]:
    """Top-k KB chunks the asker may read, as facts (not yet remembered: callers remember what they use)."""
    if not query.strip():
        return []
    with ctx.timed("retrieval_kb"):
        hits = ctx.knowledge.search(query, k)
    facts = [hit_to_fact(h) for h in hits]
    # Retrieved text is untrusted: sentences that try to instruct the model are cut before any prompt
    # sees them, and the chunk is marked so the gateway and the audit row know.
    check = sanitize_snippets([{"id": f.id, "text": f.text} for f in facts], drop_empty=False)
    if not check.injection_detected:
        return facts
    cleaned = {item["id"]: item["text"] for item in check.items}
    if "injection_in_retrieved" not in ctx.flags:
        ctx.flags.append("injection_in_retrieved")
    return [
        Fact(f.id, f.type, f.title, cleaned[f.id], {**f.meta, "flagged": True}) if f.id in check.flagged_ids else f
        for f in facts
    ]


def doc_id(fact: Fact) -> str:
    return str(fact.meta.get("doc_id") or fact.id)


def meta_list(fact: Fact, key: str) -> list[str]:
    value = fact.meta.get(key)
    if isinstance(value, str):
        return [v.strip() for v in re.split(r"[,，\s]+", value.strip("[]")) if v.strip()]
    if isinstance(value, Sequence):
        return [str(v) for v in value]
    return []


def group_by_doc(facts: Iterable[Fact]) -> OrderedDict[str, list[Fact]]:
    """Chunks grouped by document, documents in order of their best chunk."""
    out: OrderedDict[str, list[Fact]] = OrderedDict()
    for f in facts:
        out.setdefault(doc_id(f), []).append(f)
    return out


def sections_with_sources(chunks: Sequence[Fact]) -> dict[str, list[tuple[str, Fact]]]:
    """Section items of one document's chunks, each with the chunk it came from (so it can be cited).

    Chunk text may start mid-article: a chunk without a heading inherits the section the previous chunk
    ended in, so ordered chunks of one article parse like the article itself.
    """
    out: dict[str, list[tuple[str, Fact]]] = OrderedDict()
    carried: str | None = None
    ordered = sorted(chunks, key=lambda f: int(f.meta.get("chunk_index", f.meta.get("position", 0)) or 0))
    for chunk in ordered:
        text = chunk.text
        first = text.lstrip().splitlines()[0] if text.strip() else ""
        if not _HEADING.match(first):
            # The index keeps each chunk's heading path ("E-204 排查 > 排查步骤"); a store that does not
            # gets the section the previous chunk ended in.
            heading = _section_heading_meta(chunk)
            if heading is not None:
                text = f"## {heading}\n{text}"
            elif carried:
                text = f"## {SECTION_ALIASES[carried][0]}\n{text}"
        parsed = parse_sections(text)
        for name, items in parsed.items():
            bucket = out.setdefault(name, [])
            for item in items:
                if all(item != seen for seen, _ in bucket):
                    bucket.append((item, chunk))
        last = [canonical_section(m.group(1)) for line in text.splitlines() if (m := _HEADING.match(line))]
        carried = last[-1] if last else carried
    return out


def _section_heading_meta(chunk: Fact) -> str | None:
    for key in ("section", "heading", "headings"):
        value = chunk.meta.get(key)
        if isinstance(value, str) and value:
            return value.split(">")[-1].strip()
    return None


SECTION_QUERY = {
    "zh": "可能原因 排查步骤 所需备件 何时升级",
    "en": "possible causes troubleshooting steps spare parts when to escalate",
}


def article_chunks(ctx: SkillContext, chosen: Sequence[Fact], query: str, k: int = 12) -> list[Fact]:
    """All chunks of the chosen article the asker may read, not only those that ranked in the top-k (a
    top-k search rarely returns every section of one article). The knowledge port lists them under the
    asker's ACL; ``query``/``k`` are kept for callers and unused."""
    del query, k
    if not chosen:
        return []
    found: dict[str, Fact] = {f.id: f for f in chosen}
    with ctx.timed("retrieval_kb"):
        hits = ctx.knowledge.document_chunks(doc_id(chosen[0]))
    for fact in (hit_to_fact(h) for h in hits):
        found.setdefault(fact.id, fact)
    return list(found.values())
