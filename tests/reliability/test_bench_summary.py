"""bench/summary.py: every JSON under the results folder becomes tables of its plain values."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

# bench/ holds scripts, not a package (mypy checks them as top-level modules): load the file itself.
SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "summary.py"
_spec = importlib.util.spec_from_file_location("bench_summary", SCRIPT)
assert _spec is not None and _spec.loader is not None
_module: Any = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_module)
summarise = _module.summarise


def test_each_benchmark_gets_its_tables(tmp_path: Path) -> None:
    (tmp_path / "load.json").write_text(json.dumps({"scenarios": {"offline": {
        "clients": 20, "5xx": 0, "endpoints": {"kb_search": {"requests": 59, "status": {"200": 59}, "p99_ms": 4216.6},
                                               "skills": {"requests": 11, "status": {"200": 11}, "p99_ms": 2204.3}}}}}))
    (tmp_path / "import.json").write_text(json.dumps({"results": [{"backend": "sqlite", "rows_per_s": 5253},
                                                                  {"backend": "postgresql", "rows_per_s": 2259}]}))
    (tmp_path / "broken.json").write_text("{not json")
    page = summarise(tmp_path)
    assert "[import](#import), [load](#load)" in page
    assert "| where | requests | status | p99_ms |" in page  # endpoints with the same fields share one table
    assert "| scenarios.offline.endpoints.kb_search | 59 | 200: 59 | 4,217 |" in page
    assert "| results[postgresql] | postgresql | 2,259 |" in page  # list items named by their backend
    assert "## broken" in page and "Unreadable" in page


def test_no_results_says_how_to_get_some(tmp_path: Path) -> None:
    assert "No results yet" in summarise(tmp_path)
