"""Top-level commands: ``serve``, ``token``, ``ask``."""

from __future__ import annotations

import typer

from copilot.cli.common import friendly_errors, runtime
from copilot.core.errors import ConfigError


def register(app: typer.Typer) -> None:
    @app.command()
    def serve(host: str = "127.0.0.1", port: int = 8000) -> None:
        """Start the HTTP service."""
        import uvicorn

        uvicorn.run("copilot.api.app:create_app", factory=True, host=host, port=port)

    @app.command()
    @friendly_errors
    def token(username: str = typer.Argument(..., help="The user the token acts as.")) -> None:
        """Print a new bearer token for USERNAME (one line, nothing else on stdout)."""
        from copilot.crm.db import check_connection, has_schema, transaction
        from copilot.store.tokens import issue_token

        rt = runtime()
        try:
            check_connection(rt.engine)
            if not has_schema(rt.engine):
                raise ConfigError("the database has no CRM schema yet: run `crm-copilot demo init` first")
            with transaction(rt.sessions) as session:
                value = issue_token(session, username)
        finally:
            rt.close()
        typer.echo(value)
