"""Hypothesis over every endpoint's numeric and date inputs: ids, counts, limits, versions, sampling knobs,
and the dates and durations people type into a lookup ("最近 800000 天的工单", "tickets created on
9999-12-31"). Whatever the value, the answer is a 2xx or a 4xx in the one error shape, never a 5xx; over
MCP never a JSON-RPC code 0 or an internal error.

``CRM_COPILOT_FUZZ_EXAMPLES`` sets the examples per test (default 25); ``-s`` prints how many ran.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from copilot.core.bounds import MAX_ID
from tests.api.conftest import LiveServer

EXAMPLES = int(os.environ.get("CRM_COPILOT_FUZZ_EXAMPLES", "25"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=False)
RAN: Counter[str] = Counter()
Headers = Callable[[str], dict[str, str]]

EDGES = [0, 1, -1, MAX_ID, MAX_ID + 1, -MAX_ID - 2, 2**64, 10**30, -(10**30), 2**31, 2**53 + 1]
integers = st.one_of(st.sampled_from(EDGES), st.integers(), st.integers(min_value=-(2**70), max_value=2**70))
numbers = st.one_of(integers, st.floats(allow_nan=True, allow_infinity=True))
OBJECT_TYPES = ["opportunity", "account", "ticket", "device", "campaign", "contact", "lead", "contract"]
UNITS = ["天", "日", "周", "个月", "月", "年", "小时", " days", " weeks", " months", " years", " hours"]


@pytest.fixture(scope="module", autouse=True)
def _report() -> Iterator[None]:
    yield
    print(f"\nfuzz: {sum(RAN.values())} examples: {dict(RAN)}")


def _post(client: TestClient, path: str, body: dict[str, Any], headers: dict[str, str]) -> Any:
    """POST ``body`` as JSON text written by Python's encoder, which spells non-finite floats NaN/Infinity:
    the client library refuses to send them, a hand-written client does not."""
    text = json.dumps(body, ensure_ascii=False)
    return client.post(path, content=text.encode(), headers={**headers, "content-type": "application/json"})


def _ok(response: Any, where: str) -> None:  # httpx or TestClient responses
    assert response.status_code < 500, f"{where}: {response.status_code} {response.text[:300]}"
    if response.status_code >= 400:
        error = response.json()["error"]
        assert isinstance(error["message"], str) and error["message"], where


def date_texts() -> st.SearchStrategy[str]:
    day = st.dates(min_value=dt.date(1, 1, 1), max_value=dt.date(9999, 12, 31))
    n = st.one_of(st.sampled_from([0, 1, 800000, 10**9, 10**18, 2**63, 10**30]), st.integers(0, 10**40))
    iso = day.map(lambda d: d.isoformat())
    zh = day.map(lambda d: f"{d.year}年{d.month}月{d.day}日")
    raw = st.tuples(st.integers(-99999, 99999), st.integers(-99, 99), st.integers(-99, 99)).map(
        lambda t: f"{t[0]}-{t[1]}-{t[2]}")
    when = st.one_of(iso, zh, raw)
    return st.one_of(
        st.tuples(n, st.sampled_from(UNITS)).map(lambda t: f"最近 {t[0]}{t[1]}的工单"),
        st.tuples(n, st.sampled_from(UNITS)).map(lambda t: f"tickets from the last {t[0]}{t[1]}"),
        when.map(lambda w: f"tickets created on {w}"),
        when.map(lambda w: f"{w} 之后创建的工单"),
        st.tuples(when, when).map(lambda t: f"{t[0]} 到 {t[1]} 的商机"),
        st.tuples(n, st.sampled_from(UNITS)).map(lambda t: f"{t[0]}{t[1]}内要到期的合同"),
        st.tuples(n, st.sampled_from(UNITS)).map(lambda t: f"deals not updated for {t[0]}{t[1]}"),
    )


@FUZZ
@given(object_type=st.sampled_from(OBJECT_TYPES), object_id=integers)
def test_page_record_ids(client: TestClient, auth: Headers, object_type: str, object_id: int) -> None:
    context = {"object_type": object_type, "object_id": object_id}
    headers = auth("sales_mgr_east")
    _ok(client.post("/v1/assist", json={"message": "这个记录怎么样了", "context": context}, headers=headers), "assist")
    _ok(client.post("/v1/skills/record_qa/invoke", json={"message": "status?", "context": context},
                    headers=headers), "invoke")
    _ok(client.post("/v1/prompts/record_qa/render", json={"context": context}, headers=headers), "render")
    _ok(client.post("/v1/chat/completions", json={"model": "crm-copilot", "context": context,
                                                  "messages": [{"role": "user", "content": "stage?"}]},
                    headers=headers), "chat")
    RAN["page ids"] += 1


@FUZZ
@given(
    skill_input=st.one_of(
        st.fixed_dictionaries({"device_id": integers}).map(lambda d: ("troubleshoot", "service_agent_1", d)),
        st.fixed_dictionaries({"campaign_id": integers, "variants": integers}).map(
            lambda d: ("marketing_copy", "marketer_1", d)),
        st.fixed_dictionaries({"limit": numbers}).map(lambda d: ("next_best_action", "rep_east_1", d)),
        st.dictionaries(st.sampled_from(["query", "limit", "days", "object_id", "x"]), numbers, max_size=3).map(
            lambda d: ("ticket_lookup", "service_mgr", d)),
    )
)
def test_skill_input_numbers(client: TestClient, auth: Headers, skill_input: tuple[str, str, dict[str, Any]]) -> None:
    skill, user, values = skill_input
    response = _post(client, f"/v1/skills/{skill}/invoke", {"message": "help", "input": values}, auth(user))
    _ok(response, f"{skill} {values}")
    RAN["skill inputs"] += 1


@FUZZ
@given(k=numbers, per_document=st.one_of(st.none(), numbers), version=st.one_of(integers, st.text(max_size=12)))
@example(k=float("nan"), per_document=float("inf"), version=2**64)
def test_search_and_render_knobs(client: TestClient, auth: Headers, k: Any, per_document: Any, version: Any) -> None:
    headers = auth("service_agent_1")
    _ok(_post(client, "/v1/kb/search", {"query": "E-204", "k": k, "per_document": per_document}, headers),
        "kb search")
    _ok(client.post("/v1/prompts/record_qa/render", json={"version": version}, headers=headers), "render version")
    RAN["kb/render knobs"] += 1


@FUZZ
@given(
    knobs=st.fixed_dictionaries(
        {},
        optional={"temperature": numbers, "top_p": numbers, "max_tokens": numbers, "max_completion_tokens": numbers,
                  "n": numbers, "seed": numbers, "presence_penalty": numbers, "frequency_penalty": numbers},
    )
)
@example(knobs={"temperature": float("inf"), "top_p": float("nan"), "max_tokens": 2**64})
def test_openai_sampling_knobs(client: TestClient, auth: Headers, knobs: dict[str, Any]) -> None:
    body = {"model": "crm-copilot", "messages": [{"role": "user", "content": "E-204 怎么处理"}], **knobs}
    _ok(_post(client, "/v1/chat/completions", body, auth("service_agent_1")), f"chat {knobs}")
    RAN["chat knobs"] += 1


@FUZZ
@given(text=date_texts(), user=st.sampled_from(["service_mgr", "rep_east_1", "partner_user_1", "admin"]))
def test_dates_and_durations_in_messages(client: TestClient, auth: Headers, text: str, user: str) -> None:
    for skill in ("ticket_lookup", "record_lookup", None):
        body: dict[str, Any] = {"message": text}
        if skill:
            body["skill"] = skill
        _ok(client.post("/v1/assist", json=body, headers=auth(user)), f"{skill} {text!r}")
    RAN["dates/durations"] += 1


@settings(max_examples=max(5, EXAMPLES // 3), deadline=None, suppress_health_check=list(HealthCheck))
@given(object_id=integers, device_id=integers, text=date_texts())
def test_mcp_numbers_and_dates(
    live_server: LiveServer, auth: Headers, object_id: int, device_id: int, text: str
) -> None:
    headers = {**auth("service_mgr"), "Accept": "application/json, text/event-stream",
               "Content-Type": "application/json", "MCP-Protocol-Version": "2025-06-18"}
    calls = [
        ("record_qa", {"message": "status?", "object_type": "ticket", "object_id": object_id}),
        ("troubleshoot", {"message": "E-204", "device_id": device_id}),
        ("ticket_lookup", {"message": text}),
    ]
    for name, arguments in calls:
        body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": name, "arguments": arguments}}
        response = httpx.post(f"{live_server.url}/mcp", json=body, headers=headers, timeout=120)
        assert response.status_code < 500, response.text[:300]
        answer = response.json()
        if "error" in answer:
            assert answer["error"]["code"] not in (0, -32603), (name, arguments, answer)
    RAN["mcp"] += 1
