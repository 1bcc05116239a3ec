"""The evaluation harness judges by numbers: gates, regressions against a baseline, reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from eval import runner
from eval.runner import SuiteReport, check_gates, compare, to_json, write_html


def test_gates_fail_on_a_low_score_a_leak_or_a_missing_metric() -> None:
    gates: dict[str, dict[str, float]] = {"hit@5": {"min": 0.95}, "fls_leaks": {"max": 0}, "accuracy": {"min": 0.9}}
    failures = check_gates({"hit@5": 0.94, "fls_leaks": 1}, gates)
    assert failures == ["hit@5 = 0.94 < 0.95", "fls_leaks = 1 > 0", "accuracy: missing"]
    assert check_gates({"hit@5": 0.95, "fls_leaks": 0, "accuracy": 0.93}, gates) == []


def test_a_prompt_change_that_costs_accuracy_is_a_regression() -> None:
    now = [SuiteReport("router", {"accuracy": 0.90, "fls_leaks": 1, "p50_ms": 90.0}, {})]
    baseline = {"suites": {"router": {"metrics": {"accuracy": 0.95, "fls_leaks": 0, "p50_ms": 1.0}}}}
    regressions = compare(now, baseline, tolerance=0.02)
    assert regressions == ["router.accuracy: 0.95 → 0.9", "router.fls_leaks: 0 → 1"]  # timings are bench/'s job
    assert compare(now, baseline, tolerance=1.0) == []


def test_reports_for_machines_and_people(tmp_path: Path) -> None:
    report = SuiteReport("skills", {"record_qa.fact_recall": 1.0}, {"record_qa.fact_recall": {"min": 0.9}})
    payload = to_json([report], [])
    assert payload["passed"] is True and payload["suites"]["skills"]["passed"] is True
    write_html(payload, tmp_path / "r.html")
    html = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "record_qa.fact_recall" in html and "PASS" in html


@pytest.fixture
def fake_suite(monkeypatch: pytest.MonkeyPatch) -> dict[str, float]:
    """A stand-in *suite* (data in, numbers out); the harness around it is the real one."""
    metrics = {"score": 0.9}
    monkeypatch.setitem(
        runner.SUITES, "fake", lambda runtime: {"metrics": dict(metrics), "gates": {"score": {"min": 0.5}}}
    )
    return metrics


def test_cli_exits_non_zero_on_regression(tmp_path: Path, fake_suite: dict[str, float]) -> None:
    from copilot.cli.main import app

    cli = CliRunner()
    base, out = tmp_path / "base.json", tmp_path / "out.json"
    assert cli.invoke(app, ["eval", "run", "--suite", "fake", "--json", str(base)]).exit_code == 0
    fake_suite["score"] = 0.7  # still above its gate, but worse than the baseline
    result = cli.invoke(app, ["eval", "run", "--suite", "fake", "--baseline", str(base), "--json", str(out)])
    assert result.exit_code == 1
    assert json.loads(out.read_text())["regressions"] == ["fake.score: 0.9 → 0.7"]
    assert cli.invoke(app, ["eval", "run", "--suite", "nope"]).exit_code == 2
