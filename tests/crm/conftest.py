"""Shared fixtures for tests that need the demo organisation.

``demo_runtime``: a Runtime whose settings point at a temporary data dir holding the demo CRM on
SQLite, built once per test session (the knowledge base is not ingested here: KB tests add it).
``principal_for``: ``principal_for("rep_east_1")`` → that demo user's Principal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from copilot.core.settings import Settings
from copilot.crm.principal import Principal, load_principal
from copilot.service.runtime import Runtime


@pytest.fixture(scope="session")
def demo_runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    from copilot.demo.install import init_demo

    data_dir = tmp_path_factory.mktemp("demo-data")
    runtime = Runtime(Settings(data_dir=data_dir, database_url=None, chroma_path=data_dir / "chroma"))
    init_demo(runtime, ingest_kb=False)
    yield runtime
    runtime.close()


@pytest.fixture(scope="session")
def principal_for(demo_runtime: Runtime) -> Callable[[str], Principal]:
    def load(username: str) -> Principal:
        with demo_runtime.sessions() as session:
            return load_principal(session, username)

    return load
