"""``crm-copilot``: the entry point. Each command group lives in its own module."""

from __future__ import annotations

import typer

from copilot.cli import ask, demo, eval_cmd, import_cmd, kb, prompts, service

app = typer.Typer(no_args_is_help=True, add_completion=False, help="CRM Copilot: an AI assistant inside your CRM.")
app.add_typer(demo.app, name="demo", help="Build the demo organisation and knowledge base.")
app.add_typer(kb.app, name="kb", help="Ingest and search the knowledge base.")
app.add_typer(prompts.app, name="prompts", help="The prompt-template registry.")
app.add_typer(eval_cmd.app, name="eval", help="Offline evaluation of every skill.")
service.register(app)
ask.register(app)
import_cmd.register(app)

if __name__ == "__main__":
    app()
