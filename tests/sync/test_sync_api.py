"""The upsert API: who may call it, 4xx naming the field, all-or-nothing batches, and permission changes
that the very next /v1/assist and /v1/kb/search of the affected users reflect (leak tests)."""

from __future__ import annotations

import time
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import text

from copilot.service.runtime import Runtime
from tests.sync.conftest import MARK, Auth


def sql(runtime: Runtime, query: str, **params: Any) -> list[Any]:
    with runtime.engine.connect() as conn:
        return list(conn.execute(text(query), params))


def assist_status(client: TestClient, headers: dict[str, str], object_type: str, object_id: int) -> int:
    r = client.post("/v1/assist", json={"message": "这条记录的关键信息是什么", "skill": "record_qa",
                                        "context": {"object_type": object_type, "object_id": object_id}},
                    headers=headers)
    assert r.status_code < 500, r.text
    return r.status_code


def kb_docs(client: TestClient, headers: dict[str, str]) -> set[str]:
    r = client.post("/v1/kb/search", json={"query": MARK, "k": 20}, headers=headers)
    assert r.status_code == 200, r.text
    return {x["doc_id"] for x in r.json()["results"]}


def test_only_integration_or_admin_tokens_may_write(sync_client: TestClient, sync_auth: Auth,
                                                     integration: dict[str, str]) -> None:
    body = {"name": "同步测试客户甲", "industry": "制造业", "owner_id": "rep_east_1"}
    for user in ("rep_east_1", "sales_mgr_east", "partner_user_1"):
        r = sync_client.put("/v1/crm/account/ACC-T1", json=body, headers=sync_auth(user))
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    assert sync_client.put("/v1/crm/account/ACC-T1", json=body).status_code == 401
    r = sync_client.put("/v1/crm/accounts/ACC-T1", json=body, headers=integration)  # plural accepted
    assert r.status_code == 200 and r.json()["result"] == "created" and r.json()["object_type"] == "account"
    again = sync_client.put("/v1/crm/account/ACC-T1", json=body, headers=integration)
    assert again.json() == {**r.json(), "result": "unchanged"}


def test_validation_errors_name_the_field_and_write_nothing(sync_client: TestClient, sync_runtime: Runtime,
                                                            integration: dict[str, str]) -> None:
    good = {"name": "同步测试商机", "account_id": "ACC-T1", "stage": "需求确认", "amount": "120000",
            "close_date": "2026-12-31", "owner_id": "rep_east_1"}
    cases = [
        ({**good, "close_date": "31/12/2026"}, "close_date", "not a date"),
        ({**good, "owner_id": "nobody_here"}, "owner_id", "unknown user"),
        ({**good, "account_id": "ACC-NOPE"}, "account_id", "unknown account"),
        ({**good, "stage": "Closed Won"}, "stage", "not one of"),
        ({**good, "amount": "lots"}, "amount", "not a number"),
        ({**good, "colour": "red"}, "colour", "unknown field"),
        ({k: v for k, v in good.items() if k != "name"}, "name", "required"),
    ]
    for body, field, reason in cases:
        r = sync_client.put("/v1/crm/opportunity/OPP-BAD", json=body, headers=integration)
        assert r.status_code == 422, (body, r.text)
        error = r.json()["error"]
        assert error["code"] == "invalid_record" and error["message"].startswith(field), error
        assert reason in error["message"], error
    assert not sql(sync_runtime, "SELECT id FROM opportunities WHERE external_id = 'OPP-BAD'")
    assert sync_client.put("/v1/crm/widget/X", json={}, headers=integration).status_code == 400
    assert sync_client.delete("/v1/crm/opportunity/OPP-NEVER", headers=integration).status_code == 404


def test_a_batch_is_all_or_nothing(sync_client: TestClient, sync_runtime: Runtime,
                                   integration: dict[str, str]) -> None:
    rows = [{"external_id": f"LEAD-B{i}", "name": f"批量线索{i}", "company": "批量公司", "source": "官网",
             "owner_id": "rep_south_1"} for i in range(5)]
    rows[3]["status"] = "hot"  # not a lead status
    r = sync_client.post("/v1/crm/lead:batch", json={"records": rows}, headers=integration)
    assert r.status_code == 422
    detail = r.json()["error"]["details"]
    assert [(d["index"], d["column"], d["value"]) for d in detail] == [(3, "status", "hot")]
    assert not sql(sync_runtime, "SELECT id FROM leads WHERE external_id LIKE 'LEAD-B%'")
    rows[3]["status"] = "MQL"
    r = sync_client.post("/v1/crm/leads:batch", json={"records": rows}, headers=integration)
    assert r.status_code == 200 and r.json()["created"] == 5, r.text
    # A lead's owning department is its owner's, as in the host CRM.
    assert {d for (d,) in sql(sync_runtime, "SELECT department_id FROM leads WHERE external_id LIKE 'LEAD-B%'")} \
        == {sql(sync_runtime, "SELECT department_id FROM users WHERE username = 'rep_south_1'")[0][0]}
    r = sync_client.post("/v1/crm/lead:batch", json={"records": rows[:2], "delete": ["LEAD-B4"]}, headers=integration)
    assert r.status_code == 200 and (r.json()["unchanged"], r.json()["deleted"]) == (2, 1)
    assert len(sql(sync_runtime, "SELECT id FROM leads WHERE external_id LIKE 'LEAD-B%'")) == 4


def test_owner_moved_to_another_department_is_seen_on_the_very_next_request(
        sync_client: TestClient, sync_runtime: Runtime, sync_auth: Auth, integration: dict[str, str]) -> None:
    # Hand-written SQL: a deal rep_east_2 owns, in their department (sales-east).
    ((opp_id,),) = sql(sync_runtime, "SELECT o.id FROM opportunities o JOIN users u ON u.id = o.owner_id "
                       "WHERE u.username = 'rep_east_2' AND o.department_id = u.department_id ORDER BY o.id LIMIT 1")
    east, south = sync_auth("sales_mgr_east"), sync_auth("sales_mgr_south")
    mover = sync_auth("rep_east_2")
    assert assist_status(sync_client, east, "opportunity", opp_id) == 200
    assert assist_status(sync_client, south, "opportunity", opp_id) in (403, 404)
    assert kb_docs(sync_client, mover) >= {"east-pricing"} and "south-pricing" not in kb_docs(sync_client, mover)

    # The demo organisation came in through the importer: its host ids are demo-<type>-<id>.
    r = sync_client.put("/v1/crm/user/demo-user-4", headers=integration, json={
        "username": "rep_east_2", "display_name": "陈浩", "department_id": "sales-south",
        "manager_id": "sales_mgr_south", "roles": ["sales_rep"]})
    assert r.status_code == 200 and r.json()["result"] == "updated", r.text
    # A username already held by another external id is not taken over by a new one.
    clash = sync_client.put("/v1/crm/user/U-OTHER", headers=integration,
                            json={"username": "rep_east_2", "display_name": "冒名"})
    assert clash.status_code == 422 and clash.json()["error"]["message"].startswith("username:")
    written = time.perf_counter()
    # The very next request of each affected user reflects the move: no cache serves the old principal.
    assert assist_status(sync_client, east, "opportunity", opp_id) in (403, 404)
    delay_ms = (time.perf_counter() - written) * 1000
    assert assist_status(sync_client, south, "opportunity", opp_id) == 200
    docs = kb_docs(sync_client, mover)
    assert "south-pricing" in docs and "east-pricing" not in docs
    print(f"\npermission change visible on the first request after the write, {delay_ms:.0f} ms later")


def test_a_sharing_rule_added_then_removed(sync_client: TestClient, sync_runtime: Runtime, sync_auth: Auth,
                                           integration: dict[str, str]) -> None:
    ((account_id,),) = sql(sync_runtime, "SELECT a.id FROM accounts a JOIN users u ON u.id = a.owner_id "
                           "WHERE u.username = 'rep_east_1' ORDER BY a.id LIMIT 1")
    reader = sync_auth("rep_south_1")
    assert assist_status(sync_client, reader, "account", account_id) in (403, 404)
    rule = {"name": "华东客户共享给黄晓敏", "object_type": "account", "source_kind": "department",
            "source_department_id": "sales-east", "target_kind": "user", "target_user_id": "rep_south_1",
            "access": "read"}
    assert sync_client.put("/v1/crm/sharing_rule/SR-T1", json=rule, headers=integration).status_code == 200
    assert assist_status(sync_client, reader, "account", account_id) == 200
    assert sync_client.delete("/v1/crm/sharing_rule/SR-T1", headers=integration).json()["result"] == "deleted"
    assert assist_status(sync_client, reader, "account", account_id) in (403, 404)
    # A rule that names no real field is refused, naming it.
    bad = {**rule, "source_kind": "condition", "condition": {"field": "colour", "op": "eq", "value": "red"}}
    r = sync_client.put("/v1/crm/sharing_rule/SR-T2", json=bad, headers=integration)
    assert r.status_code == 422 and "condition" in r.json()["error"]["message"]


def test_a_deleted_user_is_deactivated_and_their_token_stops(sync_client: TestClient, sync_auth: Auth,
                                                              integration: dict[str, str]) -> None:
    body = {"username": "temp_rep", "display_name": "临时销售", "department_id": "sales-east", "roles": ["sales_rep"]}
    assert sync_client.put("/v1/crm/user/U-TEMP", json=body, headers=integration).status_code == 200
    temp = sync_auth("temp_rep")
    assert sync_client.post("/v1/kb/search", json={"query": MARK}, headers=temp).status_code == 200
    assert sync_client.delete("/v1/crm/user/U-TEMP", headers=integration).json()["result"] == "deactivated"
    assert sync_client.post("/v1/kb/search", json={"query": MARK}, headers=temp).status_code == 401
