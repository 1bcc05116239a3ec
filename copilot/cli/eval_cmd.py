"""``crm-copilot eval run``: the offline evaluation harness from the terminal."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from copilot.cli.common import friendly_errors, runtime
from copilot.core.errors import BadRequest

app = typer.Typer(no_args_is_help=True)
console = Console(emoji=False)


@app.command("run")
@friendly_errors
def run(
    suite: list[str] = typer.Option(None, "--suite", help="a suite to run (repeatable); default: all"),
    baseline: Path | None = typer.Option(None, "--baseline", help="a JSON report to compare against"),
    report: Path | None = typer.Option(None, "--report", help="write an HTML report here"),
    json_out: Path | None = typer.Option(None, "--json", help="write the JSON report here"),
    tolerance: float = typer.Option(0.02, help="how much a metric may drop before it is a regression"),
) -> None:
    """Run the evaluation suites; exit 1 on a failed gate or a regression against the baseline."""
    from eval.runner import compare, run_suites, to_json, write_html, write_json

    base = None
    if baseline is not None:
        try:
            base = json.loads(baseline.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise BadRequest(f"baseline {baseline}: {exc}") from exc
    reports = run_suites(runtime(), suite or None)
    regressions = compare(reports, base, tolerance) if base else []
    payload = to_json(reports, regressions)
    table = Table("suite", "metric", "value", "gate")
    for r in reports:
        for name, value in r.metrics.items():
            gate = " ".join(f"{k} {v}" for k, v in r.gates.get(name, {}).items())
            table.add_row(r.name, name, f"{value:.4g}", gate)
    console.print(table)
    for r in reports:
        for failure in r.failures:
            console.print(f"[red]gate failed[/red] {r.name}: {failure}")
    for regression in regressions:
        console.print(f"[red]regression[/red] {regression}")
    if json_out:
        write_json(payload, json_out)
    if report:
        write_html(payload, report)
    if not payload["passed"]:
        raise typer.Exit(1)
