"""``crm-copilot ask MESSAGE --as USERNAME``: one copilot turn from the terminal."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.markdown import Markdown

from copilot.cli.common import friendly_errors, runtime
from copilot.crm.principal import load_principal
from copilot.service.turn import parse_object_ref
from skills.base import PageContext, SkillRequest

console = Console(emoji=False)


def register(app: typer.Typer) -> None:
    @app.command()
    @friendly_errors
    def ask(
        message: str,
        as_user: str = typer.Option(..., "--as", help="the demo or CRM username to ask as"),
        object_ref: str | None = typer.Option(None, "--object", help="the page's record, TYPE:ID"),
        skill: str | None = typer.Option(None, "--skill", help="skip routing and use this skill"),
        locale: str | None = typer.Option(None, "--locale", help="zh or en (default: from the message)"),
        as_json: bool = typer.Option(False, "--json", help="print the whole result as JSON"),
    ) -> None:
        """Ask the copilot, with exactly the permissions of that user."""
        rt = runtime()
        context = None
        if object_ref:
            kind, record_id = parse_object_ref(object_ref)
            context = PageContext(object_type=kind, object_id=record_id)
        request = SkillRequest(message=message, context=context, locale=locale)  # type: ignore[arg-type]
        with rt.sessions() as session:
            principal = load_principal(session, as_user)
            result = rt.assistant.turn(session, principal, request, skill=skill)
            session.commit()
        if as_json:
            typer.echo(result.model_dump_json(indent=2, exclude_none=True))
            return
        console.print(
            f"[bold]{result.skill}[/bold]  provider={result.provider}"
            + ("  [yellow]degraded[/yellow]" if result.degraded else "")
        )
        console.print(Markdown(result.answer))
        for action in result.actions:
            console.print(f"• [bold]{action.title}[/bold] — {action.reason}")
        for c in result.citations:
            console.print(f"  [{c.type}] {c.id}  {c.title}", style="dim", highlight=False)
