"""What every CLI command shares: one runtime, and errors printed as one clear line."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console

from copilot.core.errors import CopilotError
from copilot.service.runtime import Runtime

err_console = Console(stderr=True, soft_wrap=True, emoji=False)
F = TypeVar("F", bound=Callable[..., Any])


def runtime() -> Runtime:
    return Runtime()


def friendly_errors(func: F) -> F:
    """Turn a CopilotError into ``error: message`` on stderr and exit code 2, not a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except CopilotError as exc:
            err_console.print(f"[red]error:[/red] {exc.message}", highlight=False)
            raise typer.Exit(2) from None
        except ValidationError as exc:  # an option outside its range (an id past 64 bits, a locale): one line
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ())) or "input"
            err_console.print(f"[red]error:[/red] {where}: {first.get('msg')}", highlight=False)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]
