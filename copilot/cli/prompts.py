"""`crm-copilot prompts ...` commands: a thin layer over the template registry (``prompts``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from copilot.cli.common import friendly_errors, runtime
from copilot.core.errors import BadRequest, CopilotError

app = typer.Typer(no_args_is_help=True)
console = Console(emoji=False)


def _registry_errors(func: Any) -> Any:
    """Registry errors (prompts imports nothing of ours) become the CLI's one-line errors too."""
    import functools

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from prompts.errors import TemplateError

        try:
            return func(*args, **kwargs)
        except TemplateError as exc:
            raise CopilotError(exc.message, code=exc.code) from None

    return wrapper


def _parse_var(item: str) -> tuple[str, Any]:
    key, sep, raw = item.partition("=")
    if not sep or not key:
        raise BadRequest(f"--var expects key=value, got {item!r}")
    try:
        return key, json.loads(raw)  # numbers, lists, objects, true/false
    except json.JSONDecodeError:
        return key, raw  # anything else is a plain string


def _variables(vars_file: Path | None, var: list[str]) -> dict[str, Any]:
    variables: dict[str, Any] = {}
    if vars_file is not None:
        try:
            loaded = json.loads(vars_file.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise BadRequest(f"{vars_file}: {exc}") from None
        if not isinstance(loaded, dict):
            raise BadRequest(f"{vars_file}: expected a JSON object of variables")
        variables.update(loaded)
    variables.update(dict(_parse_var(v) for v in var))
    return variables


def _object_ref(value: str) -> tuple[str, int]:
    kind, sep, raw_id = value.partition(":")
    if not sep or not kind or not raw_id.isdigit():
        raise BadRequest(f"--object expects TYPE:ID such as opportunity:12, got {value!r}")
    return kind, int(raw_id)


@app.command("list")
@friendly_errors
@_registry_errors
def list_(as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False) -> None:
    """Template ids with their versions, locales and skill."""
    entries = runtime().prompts.list()
    if as_json:
        typer.echo(json.dumps(entries, ensure_ascii=False, indent=2))
        return
    table = Table("id", "versions", "locales", "skill", "description")
    for e in entries:
        table.add_row(e["id"], ", ".join(e["versions"]), ", ".join(e["locales"]), e["skill"] or "", e["description"])
    console.print(table)


@app.command()
@friendly_errors
@_registry_errors
def show(
    ref: Annotated[str, typer.Argument(help="ID or ID@VERSION (latest when no version)")],
    locale: Annotated[str, typer.Option(help="zh or en; falls back to the other")] = "zh",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """A template's header, declared variables and its system / user / offline parts."""
    from prompts.registry import parse_ref

    tid, version = parse_ref(ref)
    template = runtime().prompts.get(tid, version, locale)
    info = template.describe()
    if as_json:
        info["parts"] = {p: getattr(template.spec, p) for p in ("system", "user", "offline")}
        typer.echo(json.dumps(info, ensure_ascii=False, indent=2))
        return
    console.print(f"[bold]{template.ref}[/bold] ({template.locale})  sha256 {template.hash[:16]}…  {template.path}")
    console.print(info["description"], highlight=False)
    for name, var in template.spec.variables.items():
        flag = "" if var.required else f" (optional, default {var.default!r})"
        console.print(f"  {name}: {var.type}{flag} — {var.description}", highlight=False, markup=False)
    for part in ("system", "user", "offline"):
        console.rule(part)
        console.print(getattr(template.spec, part), highlight=False, markup=False)


@app.command()
@friendly_errors
@_registry_errors
def render(
    ref: Annotated[str, typer.Argument(help="ID or ID@VERSION")],
    vars_file: Annotated[Path | None, typer.Option("--vars", help="JSON object of variables")] = None,
    var: Annotated[
        list[str] | None, typer.Option("--var", help="key=value (value parsed as JSON if it can be)")
    ] = None,
    object_ref: Annotated[str | None, typer.Option("--object", help="TYPE:ID: gather facts from this record")] = None,
    as_user: Annotated[
        str | None, typer.Option("--as", help="username whose permissions apply (with --object)")
    ] = None,
    locale: Annotated[str, typer.Option(help="zh or en")] = "zh",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Render a template without calling a model: from given variables, or from a real record."""
    from prompts.registry import parse_ref

    tid, version = parse_ref(ref)
    rt = runtime()
    if object_ref is not None:
        if vars_file is not None or var:
            raise BadRequest("use either --object/--as or --vars/--var, not both")
        if not as_user:
            raise BadRequest("--object needs --as USERNAME: facts are gathered with that user's permissions")
        from copilot.crm.principal import load_principal
        from copilot.service.preview import render_for_record

        object_type, object_id = _object_ref(object_ref)
        with rt.sessions() as session:
            principal = load_principal(session, as_user)
            # The same door as an answer (Assistant.turn, render-only): checks, permissions, audit row.
            rendered = render_for_record(
                rt.assistant, session, principal, tid, version, object_type, object_id, "en" if locale == "en" else "zh"
            )
            session.commit()
    else:
        rendered = rt.prompts.get(tid, version, locale).render(_variables(vars_file, var or []))
    if as_json:
        typer.echo(json.dumps(rendered.to_dict(), ensure_ascii=False, indent=2))
        return
    console.print(f"[bold]{rendered.ref}[/bold] ({rendered.locale})  sha256 {rendered.hash[:16]}…")
    for message in rendered.messages:
        console.rule(message["role"])
        console.print(message["content"], highlight=False, markup=False)
    console.rule("offline answer")
    console.print(rendered.offline_text, highlight=False, markup=False)
