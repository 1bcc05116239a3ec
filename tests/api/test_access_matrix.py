"""Every endpoint as every demo user: the expected status is written out below, per (endpoint, user).

Record-bearing calls are made twice: with a record the user can see (an answer) and with one they
cannot (403/404). The invisible record's distinctive text (its name or number) must never appear in
any response body the user receives, whatever the status.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import DEMO_USERS, Record, RecordPlan

ENDPOINTS = (
    "healthz", "skills", "models", "assist", "invoke", "chat", "feedback",
    "prompts_list", "prompts_get", "prompts_render", "kb_search", "kb_add", "kb_delete",
)  # fmt: skip

# With a record the user can see. Prompts are internal (partner 403); the KB is written by admins only.
EXPECTED: dict[str, tuple[int, ...]] = {
    #                  healthz skills models assist invoke chat feedbk p_list p_get p_rend kb_srch kb_add kb_del
    "admin":           (200,   200,   200,   200,   200,   200, 201,   200,   200,  200,   200,    201,   204),
    "sales_mgr_east":  (200,   200,   200,   200,   200,   200, 201,   200,   200,  200,   200,    403,   403),
    "rep_east_1":      (200,   200,   200,   200,   200,   200, 201,   200,   200,  200,   200,    403,   403),
    "rep_east_2":      (200,   200,   200,   200,   200,   200, 201,   200,   200,  200,   200,    403,   403),
    "rep_south_1":     (200,   200,   200,   200,   200,   200, 201,   200,   200,  200,   200,    403,   403),
    "service_mgr":     (200,   200,   200,   200,   200,   200, 201,   200,   200,  200,   200,    403,   403),
    "service_agent_1": (200,   200,   200,   200,   200,   200, 201,   200,   200,  200,   200,    403,   403),
    "marketer_1":      (200,   200,   200,   200,   200,   200, 201,   200,   200,  200,   200,    403,   403),
    "partner_user_1":  (200,   200,   200,   200,   200,   200, 201,   403,   403,  403,   200,    403,   403),
}  # fmt: skip

# With a record the user cannot see (admin sees everything, so has no row here).
RECORD_ENDPOINTS = ("assist", "invoke", "chat", "prompts_render")
REFUSED = (403, 404)
EXPECTED_INVISIBLE: dict[str, tuple[tuple[int, ...], ...]] = {
    user: (REFUSED, REFUSED, REFUSED, (403,) if user == "partner_user_1" else REFUSED)
    for user in DEMO_USERS
    if user != "admin"
}


def test_the_table_covers_every_user_and_endpoint() -> None:
    assert set(EXPECTED) == set(DEMO_USERS)
    assert all(len(row) == len(ENDPOINTS) for row in EXPECTED.values())


class Caller:
    """One user's calls, remembering every body they received."""

    def __init__(self, client: TestClient, headers: dict[str, str]) -> None:
        self.client, self.headers, self.bodies = client, headers, []  # type: ignore[var-annotated]

    def __call__(self, method: str, path: str, body: Any = None, auth: bool = True) -> Any:
        response = self.client.request(method, path, json=body, headers=self.headers if auth else {})
        self.bodies.append(response.text)
        return response


def _calls(call: Caller, record: Record, state: dict[str, Any]) -> dict[str, Callable[[], Any]]:
    question = "这条记录的关键信息是什么"

    def assist() -> Any:
        r = call("POST", "/v1/assist", {"message": question, "skill": "record_qa", "context": record.context})
        if r.status_code == 200:
            state["trace_id"] = r.json()["trace_id"]
        return r

    def feedback() -> Any:
        return call("POST", "/v1/feedback", {"trace_id": state.get("trace_id", "none"), "rating": "up"})

    def kb_add() -> Any:
        doc = "---\ntitle: 访问矩阵探针\nvisibility: internal\n---\n访问矩阵测试用的临时文档。\n"
        r = call("POST", "/v1/kb/documents", {"filename": "access-matrix-probe.md", "content": doc})
        if r.status_code in (200, 201):
            state["doc_id"] = r.json()["doc_id"]
        return r

    return {
        "healthz": lambda: call("GET", "/healthz", auth=False),
        "skills": lambda: call("GET", "/v1/skills"),
        "models": lambda: call("GET", "/v1/models"),
        "assist": assist,
        "invoke": lambda: call(
            "POST", "/v1/skills/record_qa/invoke", {"input": {"question": question}, "context": record.context}
        ),
        "chat": lambda: call(
            "POST",
            "/v1/chat/completions",
            {
                "model": "crm-copilot",
                "messages": [{"role": "user", "content": question}],
                "skill": "record_qa",
                "context": record.context,
            },
        ),
        "feedback": feedback,
        "prompts_list": lambda: call("GET", "/v1/prompts"),
        "prompts_get": lambda: call("GET", "/v1/prompts/record_qa"),
        "prompts_render": lambda: call("POST", "/v1/prompts/record_qa/render", {"context": record.context}),
        "kb_search": lambda: call("POST", "/v1/kb/search", {"query": "报警 排查"}),
        "kb_add": kb_add,
        "kb_delete": lambda: call("DELETE", f"/v1/kb/documents/{state.get('doc_id', 'access-matrix-probe')}"),
    }


@pytest.mark.parametrize("user", DEMO_USERS)
def test_endpoints_as_user(
    user: str, client: TestClient, auth: Callable[[str], dict[str, str]], records: dict[str, RecordPlan]
) -> None:
    plan = records[user]
    call = Caller(client, auth(user))
    calls = _calls(call, plan.visible, {})
    got = tuple(calls[name]().status_code for name in ENDPOINTS)
    assert dict(zip(ENDPOINTS, got, strict=True)) == dict(zip(ENDPOINTS, EXPECTED[user], strict=True))

    if plan.invisible is None:
        return
    hidden_calls = _calls(call, plan.invisible, {})
    got_hidden = {name: hidden_calls[name]().status_code for name in RECORD_ENDPOINTS}
    for name, allowed in zip(RECORD_ENDPOINTS, EXPECTED_INVISIBLE[user], strict=True):
        assert got_hidden[name] in allowed, f"{user} {name} on a record they cannot see: {got_hidden[name]}"
    # Never a leak: not in an error, not in an answer about their own record, not in search results.
    leaks = [body for body in call.bodies if plan.invisible.text in body]
    assert not leaks, f"{plan.invisible.text!r} reached {user}"


def test_feedback_on_someone_elses_turn_is_not_found(
    client: TestClient, auth: Callable[[str], dict[str, str]], records: dict[str, RecordPlan]
) -> None:
    body = {"message": "这个商机到哪个阶段了", "skill": "record_qa", "context": records["rep_east_1"].visible.context}
    turn = client.post("/v1/assist", json=body, headers=auth("rep_east_1"))
    assert turn.status_code == 200, turn.text
    theirs = {"trace_id": turn.json()["trace_id"], "rating": "down"}
    assert client.post("/v1/feedback", json=theirs, headers=auth("rep_south_1")).status_code == 404
    assert client.post("/v1/feedback", json=theirs, headers=auth("rep_east_1")).status_code == 201
