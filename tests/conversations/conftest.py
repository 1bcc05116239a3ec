"""One demo organisation for the conversation tests (its own database: a test here changes a record's owner
to take access away), the HTTP app over it, bearer tokens, and the fake OpenAI-compatible server."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from copilot.core.settings import Settings
from copilot.service.runtime import Runtime
from tests.fakes.openai_server import fake_openai  # noqa: F401  (registers the fixture for this package)
from tests.skills.skill_support import build_runtime


@pytest.fixture(scope="session")
def conv_runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    from copilot.demo.install import init_demo

    data_dir = tmp_path_factory.mktemp("conversations")
    settings = Settings(
        data_dir=data_dir, database_url=f"sqlite:///{data_dir / 'crm.sqlite3'}", today=dt.date(2026, 11, 20)
    )
    runtime = build_runtime(settings)
    init_demo(runtime, ingest_kb=False)
    yield runtime
    runtime.close()


@pytest.fixture(scope="session")
def conv_client(conv_runtime: Runtime) -> TestClient:
    from copilot.api.app import create_app

    return TestClient(create_app(conv_runtime, warm_up=False), raise_server_exceptions=False)


@pytest.fixture(scope="session")
def conv_auth(conv_runtime: Runtime) -> Callable[[str], dict[str, str]]:
    from copilot.store.tokens import issue_token

    cache: dict[str, str] = {}

    def auth(username: str) -> dict[str, str]:
        if username not in cache:
            with conv_runtime.sessions() as session:
                cache[username] = issue_token(session, username)
                session.commit()
        return {"Authorization": f"Bearer {cache[username]}"}

    return auth
