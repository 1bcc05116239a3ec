"""``crm-copilot import PATH --object TYPE [--mapping NAME_OR_FILE] [--dry-run]``."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from copilot.cli.common import friendly_errors, runtime

console = Console(stderr=True, emoji=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command("import")(import_file)


@friendly_errors
def import_file(
    path: Path = typer.Argument(..., exists=True, dir_okay=False, help="A CSV, XLSX, JSONL or JSON file."),
    object_type: str = typer.Option(..., "--object", help="account, contact, lead, opportunity, activity, ticket, "
                                    "device, contract, receivable, product, campaign, user, department, role, "
                                    "team or sharing_rule (plurals accepted)."),
    mapping: str | None = typer.Option(None, "--mapping", help="A built-in mapping (salesforce, fxiaoke, "
                                       "wecom-archive) or a YAML file; default: columns are our field names."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Check every row and reference; write nothing."),
    batch_size: int = typer.Option(2000, "--batch-size", min=1, max=100_000, help="Rows per transaction."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON on stdout."),
    errors_file: Path | None = typer.Option(None, "--errors", help="Also write every row error to this CSV."),
) -> None:
    """Import records (or users, departments, roles, teams, sharing rules), idempotent by external id."""
    from copilot.store.schema import upgrade
    from copilot.sync.importer import run_import
    from copilot.sync.readers import count_rows

    rt = runtime()
    try:
        upgrade(rt.engine)
        total = count_rows(path)
        columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()]
        with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as bar:
            task = bar.add_task(f"{object_type} ← {path.name}", total=total)
            report = run_import(rt.sessions, path, object_type, mapping=mapping, dry_run=dry_run,
                                batch_size=batch_size, progress=lambda n: bar.update(task, completed=n))
    finally:
        rt.close()
    if errors_file is not None:
        with errors_file.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=["row", "column", "value", "reason", "external_id"])
            writer.writeheader()
            writer.writerows(e.to_dict() for e in report.errors)
    if as_json:
        sys.stdout.write(json.dumps(report.to_dict(), ensure_ascii=False, indent=2) + "\n")
    else:
        _print(report)
    if not report.ok:
        raise typer.Exit(1)


def _print(report: object) -> None:
    from copilot.sync.importer import ImportReport

    assert isinstance(report, ImportReport)
    for problem in report.file_errors:
        console.print(f"[red]error:[/red] {report.path}: {problem}", highlight=False)
    if report.file_errors:
        console.print("nothing imported", highlight=False)
        return
    verb = "would import" if report.dry_run else "imported"
    console.print(
        f"{report.object_type} ({report.mapping}): {report.rows:,} rows read; {verb} "
        f"{report.created:,} new, {report.updated:,} updated, {report.unchanged:,} unchanged; "
        f"{report.not_written:,} not written in {report.failed_batches} failed batch(es) "
        f"[{report.seconds:.1f}s]", highlight=False)
    for e in report.errors[:50]:
        console.print(f"  [red]✗[/red] {e}", highlight=False)
    if report.error_count > 50:
        console.print(f"  … and {report.error_count - 50:,} more (use --errors FILE.csv or --json)", highlight=False)
