"""Subprocess entry for the crash test: ingest a folder with a slow fake embedder (a kill window)."""

from __future__ import annotations

import sys
from pathlib import Path

from knowledge_base.indexer import ingest_paths
from tests.knowledge_base.helpers import FakeEmbedder, make_index


class Announcing(FakeEmbedder):
    """Says on stdout when it embeds, so the test can kill at a known point of the run."""

    def embed_passages(self, texts):  # type: ignore[no-untyped-def]
        out = super().embed_passages(texts)
        print("embedded", flush=True)
        return out

if __name__ == "__main__":
    folder, data, delay = Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3])
    index = make_index(data, Announcing(delay_s=delay))
    report = ingest_paths(index, [folder], max_bytes=1_000_000)
    print(f"added={len(report.added)} unchanged={len(report.unchanged)}", flush=True)
