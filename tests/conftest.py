"""Shared fixtures: offline environment, and fresh empty databases on every real backend.

``backend_url`` is parametrised over SQLite, PostgreSQL and MariaDB. A server that is not running is
started once (the commands in ../shared/docs/environment.md); where none can be had, the test is
skipped with the reason in the summary, never passed silently. ``CRM_COPILOT_TEST_BACKENDS``
(comma-separated) narrows the list.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

for _k, _v in {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "ANONYMIZED_TELEMETRY": "False",
    "RAGAS_DO_NOT_TRACK": "true",
    "TOKENIZERS_PARALLELISM": "false",
    # The suite sends hundreds of requests a minute on one token per user; tests/api/test_limits.py
    # turns the per-token rate limit on for itself.
    "CRM_COPILOT_RATE_LIMIT": "",
}.items():
    os.environ[_k] = _v

ALL_BACKENDS = ("sqlite", "postgresql", "mariadb")
PG_ADMIN_URL = os.environ.get("CRM_COPILOT_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
MARIADB_ADMIN_URL = os.environ.get("CRM_COPILOT_TEST_MARIADB", "mysql+pymysql://root@127.0.0.1:3306/test")
START_COMMANDS = {
    "postgresql": "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
    "mariadb": "start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd",
}


def selected_backends() -> list[str]:
    raw = os.environ.get("CRM_COPILOT_TEST_BACKENDS")
    return [b.strip() for b in raw.split(",")] if raw else list(ALL_BACKENDS)


def _can_connect(url: str) -> str | None:
    from sqlalchemy import create_engine, text

    try:
        engine = create_engine(url)
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
        return None
    except Exception as exc:
        return str(exc).splitlines()[0]


_server_state: dict[str, str | None] = {}


def ensure_server(backend: str) -> str | None:
    """None when the server answers; else the reason it cannot be had."""
    if backend in _server_state:
        return _server_state[backend]
    admin = PG_ADMIN_URL if backend == "postgresql" else MARIADB_ADMIN_URL
    reason = _can_connect(admin)
    if reason and shutil.which(START_COMMANDS[backend].split()[0]):
        subprocess.run(START_COMMANDS[backend], shell=True, capture_output=True, timeout=60)
        for _ in range(30):
            reason = _can_connect(admin)
            if reason is None:
                break
            time.sleep(1)
    _server_state[backend] = reason
    return reason


def create_database(backend: str, tmp_dir: Path) -> tuple[str, object]:
    """A new empty database; returns its URL and a function that drops it."""
    from sqlalchemy import create_engine, text

    if backend == "sqlite":
        return f"sqlite:///{tmp_dir / f'crm-{uuid.uuid4().hex[:8]}.sqlite3'}", lambda: None
    name = f"crm_test_{uuid.uuid4().hex[:10]}"
    admin_url = PG_ADMIN_URL if backend == "postgresql" else MARIADB_ADMIN_URL
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if backend == "postgresql":
            conn.execute(text(f'CREATE DATABASE "{name}" ENCODING \'UTF8\''))
        else:
            conn.execute(text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"))
    base = admin_url.rsplit("/", 1)[0]
    url = f"{base}/{name}" + ("?charset=utf8mb4" if backend == "mariadb" else "")

    def drop() -> None:
        with admin.connect() as conn:
            if backend == "postgresql":
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            else:
                conn.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
        admin.dispose()

    return url, drop


def _backend_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    backend = request.param
    if backend not in selected_backends():
        pytest.skip(f"{backend}: not in CRM_COPILOT_TEST_BACKENDS")
    if backend != "sqlite":
        reason = ensure_server(backend)
        if reason:
            pytest.skip(f"NO {backend.upper()} SERVER: {reason} — these tests did not run on {backend}")
    url, drop = create_database(backend, tmp_path_factory.mktemp("db"))
    try:
        yield url
    finally:
        drop()  # type: ignore[operator]


@pytest.fixture(params=ALL_BACKENDS)
def backend_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh empty database per test, on each backend."""
    yield from _backend_url(request, tmp_path_factory)


@pytest.fixture(scope="module", params=ALL_BACKENDS)
def module_backend_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh empty database per test module, on each backend (for expensive setups)."""
    yield from _backend_url(request, tmp_path_factory)
