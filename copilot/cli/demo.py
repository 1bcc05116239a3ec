"""`crm-copilot demo ...` commands."""

from __future__ import annotations

import typer
from rich.console import Console

from copilot.cli.common import friendly_errors, runtime

app = typer.Typer(no_args_is_help=True)
console = Console(stderr=True, emoji=False)


@app.command()
@friendly_errors
def init(
    reset: bool = typer.Option(False, "--reset", help="Drop every CRM table and build the demo again."),
    scale: int | None = typer.Option(None, "--scale", min=1, help="Also add N synthetic opportunities "
                                     "(~10,000 users) for benchmarks."),
    seed: int | None = typer.Option(None, "--seed", help="Random seed of the demo data (default: fixed)."),
    kb: bool = typer.Option(True, "--kb/--no-kb", help="Also ingest the demo knowledge base."),
) -> None:
    """Create the schema, load the demo CRM dataset and ingest the demo knowledge base (idempotent)."""
    from copilot.demo.generator import DEMO_SEED
    from copilot.demo.install import init_demo

    rt = runtime()
    try:
        with console.status("building the demo…"):
            result = init_demo(rt, reset=reset, scale=scale, seed=DEMO_SEED if seed is None else seed,
                               progress=lambda table, n: console.print(f"  {table}: {n:,} rows"), ingest_kb=kb)
    finally:
        rt.close()
    url = rt.settings.resolved_database_url
    if result.created and result.counts:
        summary = ", ".join(f"{k} {v}" for k, v in result.counts.items() if k in (
            "accounts", "contacts", "opportunities", "activities", "devices", "tickets", "contracts"))
        console.print(f"demo loaded into {url}: {summary}")
    elif not result.created:
        console.print(f"demo already present in {url}; nothing to do (use --reset to rebuild)")
    if result.scale:
        console.print(f"scale data: {result.scale.opportunities:,} opportunities, {result.scale.users:,} users")
    console.print(f"knowledge base: {result.knowledge_base}")
