"""Fixtures for the sync tests: a demo organisation of their own (these tests change people and permission
rules, so they never share the suite-wide demo database), an app over it, tokens, an integration account."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from copilot.api.app import create_app
from copilot.core.settings import Settings
from copilot.service.runtime import Runtime
from tests.knowledge_base.helpers import make_index, write_doc

Auth = Callable[[str], dict[str, str]]
# One KB article per visibility that the permission-sync tests move people across.
SYNC_DOCS: dict[str, tuple[str, list[str], list[str]]] = {
    "east-pricing": ("restricted", [], ["sales-east"]),
    "south-pricing": ("restricted", [], ["sales-south"]),
    "all-staff": ("internal", [], []),
}
MARK = "zqsyncmark"


@pytest.fixture(scope="module")
def sync_runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    from copilot.demo.install import init_demo
    from knowledge_base.indexer import ingest_paths

    data: Path = tmp_path_factory.mktemp("sync-demo")
    runtime = Runtime(Settings(data_dir=data, database_url=f"sqlite:///{data / 'crm.sqlite3'}"))
    init_demo(runtime, ingest_kb=False)
    index = make_index(data / "kb")
    runtime.__dict__["kb"] = index  # the cached property, pre-filled with a small fast index
    folder = data / "docs"
    for doc_id, (visibility, roles, departments) in SYNC_DOCS.items():
        write_doc(folder, doc_id, f"## 正文\n{doc_id} {MARK}", visibility=visibility, roles=roles,
                  departments=departments)
    assert ingest_paths(index, [folder], max_bytes=100_000).ok
    yield runtime
    runtime.close()


@pytest.fixture(scope="module")
def sync_client(sync_runtime: Runtime) -> TestClient:
    return TestClient(create_app(sync_runtime, warm_up=False), raise_server_exceptions=False)


@pytest.fixture(scope="module")
def sync_auth(sync_runtime: Runtime) -> Auth:
    from copilot.store.tokens import issue_token

    cache: dict[str, str] = {}

    def auth(username: str) -> dict[str, str]:
        if username not in cache:
            with sync_runtime.sessions() as session:
                cache[username] = issue_token(session, username)
                session.commit()
        return {"Authorization": f"Bearer {cache[username]}"}

    return auth


@pytest.fixture(scope="module")
def integration(sync_client: TestClient, sync_auth: Auth) -> dict[str, str]:
    """An integration account, made the way a deployment makes one: an admin syncs the role and the user."""
    r = sync_client.put("/v1/crm/role/ROLE-INT", json={"name": "integration", "description": "host CRM sync"},
                        headers=sync_auth("admin"))
    assert r.status_code == 200, r.text
    r = sync_client.put("/v1/crm/user/U-SYNC", json={"username": "sync_bot", "display_name": "同步账号",
                                                     "department_id": "hq", "roles": ["integration"]},
                        headers=sync_auth("admin"))
    assert r.status_code == 200 and r.json()["result"] == "created", r.text
    return sync_auth("sync_bot")
