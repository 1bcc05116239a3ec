"""bench/load.py as a test (slow tier, run by ``make test``): 20 clients mixing every endpoint over real
HTTP for 20 s in each scenario — the offline provider, a fake model that answers in 5 s, one that
black-holes — must see no 500, no request left unanswered, and every turn must end within its turn
deadline (the black hole's turns are answered offline at the 30 s model deadline, not hung).

One 5xx is tolerated, bounded: SQLite's own write lock. Twenty clients writing audit rows to one SQLite
file on a starved machine (load average 10 on 2 cores here) can outlast its 5 s busy_timeout; the
service answers that as a JSON 503 ``database_busy`` with Retry-After (README), 7 of ~330 requests
in one run here, none in the model scenarios. More than 5 % of a scenario, or any other 5xx, fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SECONDS = 20  # per scenario: a 60 s load run in all
TURN_DEADLINE_MS = 45_000  # Settings.turn_deadline_s, which bench/load.py keeps
MARGIN_MS = 15_000  # the turn's own work and queueing on a small CI machine


@pytest.mark.slow
def test_twenty_clients_for_a_minute_get_answers(tmp_path: Path) -> None:
    out = tmp_path / "load.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "bench/load.py", "--clients", "20", "--seconds", str(SECONDS),
         "--data-dir", str(tmp_path / "data"), "--out", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())["scenarios"]
    assert set(report) == {"offline", "slow", "blackhole"}
    for name, scenario in report.items():
        endpoints = scenario["endpoints"]
        codes = scenario["5xx_codes"]
        assert set(codes) <= {"503 database_busy"}, (name, codes)
        requests = sum(row["requests"] for row in endpoints.values())
        assert scenario["5xx"] <= 0.05 * requests, (name, codes, requests)
        assert scenario["no_answer"] == 0, (name, [ep for ep in endpoints if ep.startswith("no_answer")])
        # Every endpoint of the mix was exercised and answered (statuses are 2xx; 429 would be a setup bug).
        for ep in ("assist_page", "assist_routed", "chat_completions", "kb_search", "skills"):
            assert endpoints[ep]["requests"] > 0, (name, ep)
            assert set(endpoints[ep]["status"]) <= {"200", "503"}, (name, ep, endpoints[ep]["status"])
        for ep in ("assist_page", "assist_routed", "chat_completions"):
            assert endpoints[ep]["p99_ms"] < TURN_DEADLINE_MS + MARGIN_MS, (name, ep, endpoints[ep])
    # A slow model does not slow search: a KB search makes no model call (its median is far under the
    # model's 5 s; its tail is CPU contention on the machine, not the model).
    assert report["slow"]["endpoints"]["kb_search"]["p50_ms"] < 2_500
