"""``crm-copilot eval``: the evaluation harness from the terminal.

``eval run`` builds a fresh demo (database and index in a temporary directory, never the configured
ones; eval/fresh.py), runs the suites through the product's door, checks their gates and the baseline,
and writes the reports. ``eval from-feedback`` turns thumbs-down turns into draft cases for review.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from copilot.cli.common import friendly_errors
from copilot.core.errors import BadRequest

app = typer.Typer(no_args_is_help=True)
console = Console(emoji=False)


def _baseline(path: Path | None) -> dict | None:  # type: ignore[type-arg]
    if path is None:
        return None
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        raise BadRequest(f"baseline {path}: {exc}") from exc


@app.command("run")
@friendly_errors
def run(
    suite: list[str] = typer.Option(None, "--suite", help="a suite to run (repeatable); default: all"),
    baseline: Path | None = typer.Option(None, "--baseline", help="a JSON report to compare against"),
    report: Path | None = typer.Option(None, "--report", help="write an HTML report here"),
    json_out: Path | None = typer.Option(None, "--json", help="write the JSON report here"),
    tolerance: float = typer.Option(0.02, help="how much a metric may drop before it is a regression"),
    compare_versions: str | None = typer.Option(
        None, "--compare", help="TEMPLATE@A,TEMPLATE@B: rerun only the cases that template affects, both versions"
    ),
    judge_base_url: str | None = typer.Option(
        None, "--judge-base-url", help="an OpenAI-compatible endpoint for ragas' judged metrics (advisory)"
    ),
    judge_model: str = typer.Option("gpt-4o-mini", "--judge-model", help="the judge's model name"),
    judge_api_key: str = typer.Option("none", "--judge-api-key", envvar="CRM_COPILOT_JUDGE_API_KEY"),
    quick: int = typer.Option(1, "--quick", min=1, help="run every Nth case of each dataset (same gates); 1: all"),
    write_baseline: Path | None = typer.Option(
        None, "--write-baseline", help="also write this run as a baseline (metrics, gates, templates; no case rows)"
    ),
) -> None:
    """Run the evaluation suites on a fresh demo; exit 1 on a failed gate or a regression against the baseline."""
    from copilot.core.settings import get_settings
    from eval import versions
    from eval.fresh import fresh_demo
    from eval.runner import SUITES, compare, run_suites, to_json, write_html, write_json

    unknown = [s for s in suite or [] if s not in SUITES]
    if unknown:  # before minutes of demo building
        raise BadRequest(f"unknown suite {unknown[0]!r}; known suites: {', '.join(SUITES)}")
    if compare_versions:
        versions.parse_compare(compare_versions)  # a malformed spec fails before the demo is built
    base = _baseline(baseline)
    started = time.perf_counter()
    with fresh_demo(get_settings()) as rt:
        if compare_versions:
            payload = versions.compare_cli(rt, compare_versions, base)
            payload["comparisons"] = [payload.pop("comparison")]
            versions.print_delta(console, payload["comparisons"][0])
        else:
            reports = run_suites(rt, suite or None, quick=quick)
            regressions = compare(reports, base, tolerance) if base else []
            payload = to_json(reports, regressions)
            payload["templates"] = versions.fingerprints(rt)
            if base is not None:
                payload["template_changes"] = versions.changed_since(rt, base)
                # A template whose latest version moved: its cases, old version against new, side by side.
                payload["comparisons"] = [
                    versions.compare_versions(rt, *pair) for pair in versions.auto_pairs(rt, base)
                ]
                for comparison in payload["comparisons"]:
                    versions.print_delta(console, comparison)
            if judge_base_url:
                from eval.judged import judged_metrics

                payload["judged"] = judged_metrics(reports, judge_base_url, judge_model, judge_api_key, runtime=rt)
            _print(payload)
    payload["seconds"] = round(time.perf_counter() - started, 1)
    if json_out:
        write_json(payload, json_out)
    if write_baseline:
        from eval.runner import baseline_of

        write_json(baseline_of(payload), write_baseline)
    if report:
        write_html(payload, report)
    console.print(f"{'PASSED' if payload['passed'] else 'FAILED'} in {payload['seconds']} s")
    if not payload["passed"]:
        raise typer.Exit(1)


def _print(payload: dict) -> None:  # type: ignore[type-arg]
    table = Table("suite", "metric", "value", "gate")
    for name, r in payload["suites"].items():
        for metric, value in r["metrics"].items():
            if r["gates"].get(metric) or metric.endswith((".pass_rate", ".cases")):
                gate = " ".join(f"{k} {v}" for k, v in r["gates"].get(metric, {}).items())
                table.add_row(name, metric, f"{value:.4g}", gate)
    console.print(table)
    for name, r in payload["suites"].items():
        for failure in r["failures"]:
            console.print(f"[red]gate failed[/red] {name}: {failure}")
    for regression in payload["regressions"]:
        console.print(f"[red]regression[/red] {regression}")
    for change in payload.get("template_changes", []):
        console.print(f"[yellow]template changed since the baseline[/yellow] {change}")


@app.command("from-feedback")
@friendly_errors
def from_feedback(
    out: Path = typer.Option(Path("eval/drafts/feedback.yaml"), "--out", help="where the draft cases go"),
    since: str | None = typer.Option(None, "--since", help="only feedback on or after this date (YYYY-MM-DD)"),
    limit: int = typer.Option(200, "--limit", min=1, help="at most this many cases"),
) -> None:
    """Thumbs-down turns (the user's comment, the answer, the retrieved context) as draft cases for review."""
    from copilot.cli.common import runtime
    from eval.feedback import draft_cases

    rt = runtime()
    try:
        with rt.sessions() as session:
            text, n = draft_cases(session, since=since, limit=limit)
    finally:
        rt.close()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    console.print(f"{n} draft case(s) written to {out}; review them (fill in the assertions) before use")
