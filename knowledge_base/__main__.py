"""``python -m knowledge_base PATH... [--prune]``: ingest without the full CLI (used by the crash test)."""

from __future__ import annotations

import sys
from pathlib import Path

from copilot.core.settings import get_settings
from knowledge_base.indexer import ingest_paths
from retrievers.hybrid import KnowledgeIndex


def main(argv: list[str]) -> int:
    prune = "--prune" in argv
    paths = [Path(a) for a in argv if a != "--prune"]
    settings = get_settings()
    kb = KnowledgeIndex.open(settings)  # what the service's runtime opens (its kb), without the rest of it
    try:
        report = ingest_paths(kb, paths, max_bytes=settings.max_document_bytes, prune=prune)
    finally:
        kb.close()
    for path, message in report.errors:
        print(f"error: {path}: {message}", file=sys.stderr)
    print(f"added {len(report.added)} updated {len(report.updated)} unchanged {len(report.unchanged)}")
    return 1 if report.errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
