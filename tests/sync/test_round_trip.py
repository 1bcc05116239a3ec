"""Round trip: the demo organisation exported to CSV in our field names (the importer's default mapping),
imported into an empty database on every backend, answers every skill's questions exactly as the
original does, on the same records.

The importable objects (people, permission rules, records) travel through the CSV files and the importer,
which assigns ids in file order; the child tables the importer does not take (stage history, ticket
messages, revenues, campaign members, ...) are then bulk-loaded from the demo data, so the test first
checks that every record landed on the id the original has."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from copilot.api.app import create_app
from copilot.core.settings import Settings
from copilot.crm import models as m
from copilot.crm.db import transaction
from copilot.demo.files import loader_rows
from copilot.demo.generator import DemoData, build_demo, load, reset_sequences
from copilot.service.runtime import Runtime
from copilot.store.schema import upgrade
from copilot.store.tokens import issue_token
from copilot.sync.export import export_csv
from copilot.sync.importer import run_import
from copilot.sync.objects import IMPORTABLE
from tests.knowledge_base.helpers import make_index, write_doc

# (user, message, page, skill) — one or more questions per skill, as users ask them.
QUESTIONS: list[tuple[str, str, tuple[str, int] | None, str | None]] = [
    ("rep_east_1", "这个商机现在到哪个阶段了，金额多少？", ("opportunity", 1), "record_qa"),
    ("sales_mgr_east", "帮我总结一下这个客户", ("account", 1), "record_qa"),
    ("rep_east_1", "下一步该做什么？", ("opportunity", 1), "next_best_action"),
    ("sales_mgr_east", "这个客户接下来要跟进什么", ("account", 2), "next_best_action"),
    ("service_agent_1", "我的未关闭高优先级工单", None, "ticket_lookup"),
    ("rep_east_1", "我本月要成交的商机", None, None),
    ("service_agent_1", "帮我回复客户", ("ticket", 1), "reply_suggestion"),
    ("service_agent_1", "设备报 E-204 怎么处理", ("ticket", 1), "troubleshoot"),
    ("marketer_1", "写一条企业微信消息推广 LC-3015", None, "marketing_copy"),
]


def _runtime(url: str, data: Path) -> Runtime:
    runtime = Runtime(Settings(data_dir=data, database_url=url))
    index = make_index(data / "kb")
    runtime.__dict__["kb"] = index
    from knowledge_base.indexer import ingest_paths

    write_doc(data / "docs", "e204", "## 处理\nE-204 报警：检查切割头保护镜片与气压。", visibility="internal")
    assert ingest_paths(index, [data / "docs"], max_bytes=100_000).ok
    return runtime


@pytest.fixture(scope="module")
def original(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    from copilot.demo.install import init_demo

    data = tmp_path_factory.mktemp("rt-original")
    runtime = _runtime(f"sqlite:///{data / 'crm.sqlite3'}", data)
    init_demo(runtime, ingest_kb=False)
    yield runtime
    runtime.close()


@pytest.fixture(scope="module")
def exported(original: Runtime, tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Path, str]]:
    folder = tmp_path_factory.mktemp("rt-csv")
    files = []
    with original.sessions() as session:
        for object_type in IMPORTABLE:
            path = folder / f"{object_type}.csv"
            if export_csv(session, object_type, path):
                files.append((path, object_type))
    return files


@pytest.fixture(scope="module")
def copy(module_backend_url: str, exported: list[tuple[Path, str]],
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    runtime = _runtime(module_backend_url, tmp_path_factory.mktemp("rt-copy"))
    upgrade(runtime.engine)
    rest = loader_rows(build_demo())
    with transaction(runtime.sessions) as session:
        load(session, DemoData({m.Partner: rest.rows.pop(m.Partner)}))
    for path, object_type in exported:
        report = run_import(runtime.sessions, path, object_type)
        assert report.ok and report.created == report.rows, report.to_dict()
    with transaction(runtime.sessions) as session:
        load(session, rest)
        reset_sequences(session, list(IMPORTABLE.values()))
    yield runtime
    runtime.close()


def ids_by_external_id(runtime: Runtime, model: Any) -> dict[str, int]:
    with runtime.engine.connect() as conn:
        return {str(e): int(i) for e, i in conn.execute(select(model.external_id, model.id))}


def test_every_record_lands_on_its_original_id(original: Runtime, copy: Runtime) -> None:
    for model in IMPORTABLE.values():
        assert ids_by_external_id(copy, model) == ids_by_external_id(original, model), model.__tablename__
    with original.engine.connect() as a, copy.engine.connect() as b:
        for table in ("opportunities", "user_roles", "team_members", "sharing_rules", "departments"):
            q = text(f"SELECT COUNT(*) FROM {table}")
            assert a.scalar(q) == b.scalar(q), table
        q = text("SELECT id, path FROM departments ORDER BY id")
        assert list(a.execute(q)) == list(b.execute(q))


def answers(runtime: Runtime) -> list[dict[str, Any]]:
    client = TestClient(create_app(runtime, warm_up=False), raise_server_exceptions=False)
    tokens: dict[str, str] = {}
    out = []
    for user, message, page, skill in QUESTIONS:
        if user not in tokens:
            with runtime.sessions() as session:
                tokens[user] = issue_token(session, user)
                session.commit()
        body: dict[str, Any] = {"message": message}
        if page:
            body["context"] = {"object_type": page[0], "object_id": page[1]}
        if skill:
            body["skill"] = skill
        r = client.post("/v1/assist", json=body, headers={"Authorization": f"Bearer {tokens[user]}"})
        assert r.status_code == 200, (user, message, r.text)
        j = r.json()
        out.append({"skill": j["skill"], "answer": j["answer"], "citations": j["citations"],
                    "actions": [(a.get("kind"), a.get("title")) for a in j.get("actions", [])]})
    return out


def test_every_skill_gives_the_same_answers_on_the_copy(original: Runtime, copy: Runtime) -> None:
    before, after = answers(original), answers(copy)
    assert {a["skill"] for a in before} >= {"record_qa", "next_best_action", "ticket_lookup", "reply_suggestion",
                                            "troubleshoot", "marketing_copy"}
    assert all(a["answer"].strip() for a in before)
    for question, a, b in zip(QUESTIONS, before, after, strict=True):
        assert a == b, question
