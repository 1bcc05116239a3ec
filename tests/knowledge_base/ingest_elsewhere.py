"""Subprocess entry for the freshness tests: another process writing to the same index.

    python -m tests.knowledge_base.ingest_elsewhere DATA FOLDER...     ingest folders
    python -m tests.knowledge_base.ingest_elsewhere DATA --delete ID   remove one document
"""

from __future__ import annotations

import sys
from pathlib import Path

from knowledge_base.indexer import delete_document, ingest_paths
from tests.knowledge_base.helpers import make_index

if __name__ == "__main__":
    data, rest = Path(sys.argv[1]), sys.argv[2:]
    index = make_index(data)
    if rest[0] == "--delete":
        delete_document(index, rest[1])
        print("deleted", rest[1])
    else:
        report = ingest_paths(index, [Path(p) for p in rest], max_bytes=1_000_000)
        print(report.to_dict(), flush=True)
        sys.exit(0 if report.ok else 1)
