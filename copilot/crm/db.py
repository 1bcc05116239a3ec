"""Engines and sessions for SQLite, PostgreSQL and MySQL/MariaDB, chosen by URL alone."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from copilot.core.errors import ConfigError

SUPPORTED_BACKENDS = ("sqlite", "postgresql", "mysql", "mariadb")


def make_engine(url: str, *, sqlite_busy_timeout_s: float = 5.0, **kwargs: Any) -> Engine:
    """An engine for ``url``, or a ConfigError that says what is wrong with it. ``sqlite_busy_timeout_s``:
    how long a SQLite connection waits for the write lock (ignored elsewhere)."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"database URL {url!r} is not a valid SQLAlchemy URL: {exc}") from exc
    if parsed.get_backend_name() not in SUPPORTED_BACKENDS:
        raise ConfigError(
            f"database URL {url!r}: backend {parsed.get_backend_name()!r} is not supported "
            f"(use one of {', '.join(SUPPORTED_BACKENDS)})"
        )
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    try:
        engine = create_engine(parsed, pool_pre_ping=True, **kwargs)
    except NoSuchModuleError as exc:
        raise ConfigError(f"database URL {url!r}: no driver installed for it ({exc})") from exc
    if engine.dialect.name == "sqlite":
        busy_ms = int(sqlite_busy_timeout_s * 1000)

        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA busy_timeout={busy_ms}")
            cur.close()

        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def check_connection(engine: Engine) -> None:
    """Connect once, turning a driver's traceback into one sentence."""
    try:
        with engine.connect():
            pass
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise ConfigError(f"cannot connect to the database at {engine.url!r}: {reason}") from exc


def has_schema(engine: Engine) -> bool:
    return inspect(engine).has_table("users")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session that commits on success and rolls everything back on any error."""
    with factory() as session, session.begin():
        yield session
