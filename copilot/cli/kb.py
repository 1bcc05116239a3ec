"""`crm-copilot kb ...` commands: a thin layer over knowledge_base.indexer and the index's search."""

from __future__ import annotations

import enum
import json
from pathlib import Path

import typer
from rich.console import Console

from copilot.cli.common import err_console, friendly_errors, runtime
from copilot.crm.permissions import VISIBILITIES

app = typer.Typer(no_args_is_help=True)
# The visibilities of api.md (copilot.crm.permissions.VISIBILITIES), as a choice for --default-visibility.
Visibility = enum.Enum("Visibility", {v: v for v in VISIBILITIES}, type=str)  # type: ignore[misc]
console = Console(emoji=False)


@app.command()
@friendly_errors
def ingest(
    paths: list[Path] = typer.Argument(..., help="files or folders (.md .html .pdf .txt .docx)"),
    prune: bool = typer.Option(
        False, "--prune",
        help="sync the given folders: remove documents ingested from a file under them that is gone",
    ),
    as_json: bool = typer.Option(False, "--json", help="print the report as JSON"),
    default_visibility: Visibility | None = typer.Option(
        None, "--default-visibility",
        help="who may read documents that carry no visibility label (without it: admins only)",
    ),
) -> None:
    """Ingest documents. Unchanged files are skipped (nothing is embedded); changed files replace their
    old chunks; a broken file is reported and skipped; a document without a visibility label is for
    admins only (listed as unlabelled) unless --default-visibility says otherwise. Exit code 1 when any
    file failed."""
    from knowledge_base.indexer import ingest_paths

    rt = runtime()
    report = ingest_paths(
        rt.kb, paths, max_bytes=rt.settings.max_document_bytes, prune=prune, progress=True,
        default_visibility=default_visibility.value if default_visibility else None,
        max_chars=rt.settings.max_document_chars, max_expansion=rt.settings.max_expansion_ratio,
    )
    if as_json:
        typer.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    else:
        console.print(
            f"added {len(report.added)}, updated {len(report.updated)}, unchanged {len(report.unchanged)}, "
            f"removed {len(report.removed)}, failed {len(report.errors)} "
            f"({report.chunks_written} chunks written, {report.texts_embedded} embedded)",
            highlight=False,
        )
    for doc_id, visibility in report.unlabelled:
        who = "admins only" if visibility == "restricted" else visibility
        err_console.print(f"[yellow]unlabelled:[/yellow] {doc_id} has no visibility: {who}", highlight=False)
    for path, message in report.errors:
        err_console.print(f"[red]error:[/red] {path}: {message}", highlight=False)
    if report.errors:
        raise typer.Exit(1)


@app.command()
@friendly_errors
def search(
    query: str,
    as_user: str = typer.Option(..., "--as", help="search with exactly this user's permissions"),
    k: int = typer.Option(5, "-k", min=1, max=50, help="how many chunks"),
    per_document: int = typer.Option(1, "--per-document", min=0, help="chunks per document at most (0: no limit)"),
    as_json: bool = typer.Option(False, "--json", help="print the results as JSON"),
) -> None:
    """Permission-filtered search of the knowledge base, as that user."""
    from sqlalchemy.exc import OperationalError

    from copilot.core.errors import ConfigError
    from copilot.crm.principal import load_principal

    rt = runtime()
    try:
        with rt.sessions() as session:
            principal = load_principal(session, as_user)
            # The assistant's door for a search (input checks, ACL in the index, audit row), as the API's.
            hits = rt.assistant.search_knowledge(session, principal, query, k, per_document=per_document or None)
            session.commit()
    except OperationalError as exc:  # no schema yet: say what to do, not a traceback
        raise ConfigError(f"the CRM database is not set up ({exc.orig}); run `crm-copilot demo init`") from None
    if as_json:
        typer.echo(json.dumps({"results": [h.to_dict() for h in hits]}, ensure_ascii=False, indent=2))
        return
    if not hits:
        console.print("no results", style="dim")
    for i, hit in enumerate(hits, 1):
        where = f"{hit.title} > {hit.heading}" if hit.heading else hit.title
        console.print(f"[bold]{i}. {hit.doc_id}[/bold]  {hit.score:.3f}  [dim]{hit.visibility}[/dim]", highlight=False)
        console.print(f"   {where}", style="cyan", highlight=False)
        snippet = hit.text.replace("\n", " ")
        console.print(f"   {snippet[:200]}{'…' if len(snippet) > 200 else ''}", highlight=False)
