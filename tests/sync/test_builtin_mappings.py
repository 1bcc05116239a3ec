"""The built-in mappings on our own sample exports (examples/imports): Salesforce CSVs, a Fxiaoke-style
Chinese export and a WeCom conversation archive, imported into the demo organisation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from copilot.service.runtime import Runtime
from copilot.sync.importer import run_import
from tests.sync.conftest import Auth

SAMPLES = Path(__file__).resolve().parents[2] / "examples" / "imports"
PLAN = [
    ("salesforce/User.csv", "user", "salesforce"), ("salesforce/Account.csv", "account", "salesforce"),
    ("salesforce/Contact.csv", "contact", "salesforce"), ("salesforce/Lead.csv", "lead", "salesforce"),
    ("salesforce/Opportunity.csv", "opportunity", "salesforce"), ("salesforce/Case.csv", "ticket", "salesforce"),
    ("fxiaoke/客户.csv", "account", "fxiaoke"), ("fxiaoke/联系人.csv", "contact", "fxiaoke"),
    ("fxiaoke/商机.csv", "opportunity", "fxiaoke"), ("fxiaoke/工单.csv", "ticket", "fxiaoke"),
    ("wecom/archive.jsonl", "activity", "wecom-archive"),
]


def sql(runtime: Runtime, query: str, **params: Any) -> list[Any]:
    with runtime.engine.connect() as conn:
        return list(conn.execute(text(query), params))


@pytest.fixture(scope="module")
def imported(sync_runtime: Runtime) -> Runtime:
    for name, kind, mapping in PLAN:
        report = run_import(sync_runtime.sessions, SAMPLES / name, kind, mapping=mapping)
        assert report.ok and report.created > 0, report.to_dict()
    return sync_runtime


def test_every_sample_imports_and_a_second_run_changes_nothing(imported: Runtime) -> None:
    for name, kind, mapping in PLAN:
        again = run_import(imported.sessions, SAMPLES / name, kind, mapping=mapping)
        # The archive's 8 messages are 3 conversations (employee, contact, day): 3 activities.
        records = 3 if kind == "activity" else again.rows
        assert again.ok and (again.created, again.updated, again.unchanged) == (0, 0, records), again.to_dict()


def test_picklists_and_references_land_as_ours(imported: Runtime) -> None:
    stages = dict(sql(imported, "SELECT external_id, stage FROM opportunities WHERE external_id IS NOT NULL"))
    assert stages["0065g00000Op001"] == "方案报价" and stages["0065g00000Op003"] == "赢单"
    assert stages["FX-SJ-0001"] == "方案报价" and stages["FX-SJ-0002"] == "线索验证"
    ((status, priority, node, number),) = sql(imported, "SELECT status, priority, process_node, number FROM tickets "
                                                        "WHERE external_id = 'FX-GD-0001'")
    assert (status, priority, node, number) == ("in_progress", "high", "远程诊断", "FX-GD-0001")
    # OwnerId points at the user the User export brought in; a ManagerId naming a user further down the
    # same file is resolved too.
    ((owner, manager),) = sql(imported, "SELECT u.username, mgr.username FROM opportunities o "
                                        "JOIN users u ON u.id = o.owner_id JOIN users mgr ON mgr.id = u.manager_id "
                                        "WHERE o.external_id = '0065g00000Op001'")
    assert (owner, manager) == ("sf_rep_east_1", "sf_mgr_east")
    ((dept,),) = sql(imported, "SELECT d.code FROM users u JOIN departments d ON d.id = u.department_id "
                               "WHERE u.username = 'sf_rep_east_3'")
    assert dept == "sales-east"


def test_wecom_chats_become_activities_on_the_contact_and_account(imported: Runtime) -> None:
    rows = sql(imported, "SELECT a.kind, a.body, c.name, ac.name, u.username FROM activities a "
                         "JOIN contacts c ON c.id = a.contact_id JOIN accounts ac ON ac.id = a.account_id "
                         "JOIN users u ON u.id = a.owner_id WHERE a.external_id LIKE 'wecom:%' ORDER BY a.occurred_at")
    assert [(r[2], r[4]) for r in rows] == [("蒋文涛", "rep_east_1"), ("蒋文涛", "rep_east_1"), ("沈佳", "rep_east_2")]
    assert {r[3] for r in rows[:2]} == {"常州瑞丰钣金制造有限公司"} and {r[0] for r in rows} == {"wecom"}
    assert "120万以内" in rows[0][1] and "客户：" in rows[0][1]


def test_the_assistant_answers_from_the_wecom_conversation(imported: Runtime, sync_client: TestClient,
                                                           sync_auth: Auth) -> None:
    ((account_id,),) = sql(imported, "SELECT id FROM accounts WHERE external_id = 'FX-KH-0001'")
    activity_ids = {i for (i,) in sql(imported, "SELECT id FROM activities WHERE external_id LIKE "
                                                "'wecom:rep_east_1:%'")}
    # The "客户上周在企业微信里说了什么？" stops at the lookup's vocabulary ("说" is not understood:
    # a skills matter, reported); a rep's other way of asking reaches the imported conversation.
    r = sync_client.post("/v1/assist", headers=sync_auth("rep_east_1"), json={
        "message": "上周企业微信的跟进记录", "context": {"object_type": "account", "object_id": account_id}})
    assert r.status_code == 200, r.text
    cited = {c["id"] for c in r.json()["citations"] if c["type"] == "crm"}
    assert {f"crm:activity:{i}" for i in activity_ids} <= cited or \
        {f"activity:{i}" for i in activity_ids} <= cited, (r.json()["answer"], cited)
    assert "120万以内" in r.json()["answer"]
    # Another rep, who may not see the account, gets nothing of it.
    other = sync_client.post("/v1/assist", headers=sync_auth("rep_south_1"), json={
        "message": "客户上周在企业微信里说了什么？", "context": {"object_type": "account", "object_id": account_id}})
    assert other.status_code in (403, 404) and "120万" not in other.text
