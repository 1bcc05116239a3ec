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
    def token(
        username: str = typer.Argument(..., help="The user the token acts as (or `revoke`, then the user)."),
        revoke_user: str | None = typer.Argument(None, metavar="[USERNAME]", help="With `revoke`: whose tokens."),
        ttl: str | None = typer.Option(
            None, "--ttl", help="Lifetime, e.g. 8h, 30m, 7d, 2w; `never` for none. Default: CRM_COPILOT_TOKEN_TTL."
        ),
    ) -> None:
        """Print a new bearer token for USERNAME (one line, nothing else on stdout).

        `crm-copilot token revoke USERNAME` revokes every token of USERNAME instead (prints how many)."""
        from copilot.crm.db import check_connection, has_schema, transaction
        from copilot.store.tokens import issue_token, parse_ttl, revoke_tokens

        revoking = username == "revoke" and revoke_user is not None
        if revoke_user is not None and not revoking:
            raise typer.BadParameter(f"unexpected argument {revoke_user!r} (did you mean `token revoke USER`?)")
        rt = runtime()
        try:
            lifetime = parse_ttl(ttl if ttl is not None else rt.settings.token_ttl)
            check_connection(rt.engine)
            if not has_schema(rt.engine):
                raise ConfigError("the database has no CRM schema yet: run `crm-copilot demo init` first")
            with transaction(rt.sessions) as session:
                if revoking:
                    assert revoke_user is not None
                    count = revoke_tokens(session, revoke_user)
                else:
                    value = issue_token(session, username, lifetime)
        finally:
            rt.close()
        if revoking:
            typer.echo(f"revoked {count} token(s) of {revoke_user}")
        else:
            typer.echo(value)
