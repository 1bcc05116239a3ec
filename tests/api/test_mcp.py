"""The MCP server at /mcp, driven by the official SDK's streamable-HTTP client against real uvicorn."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import anyio
import httpx
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from tests.api.conftest import LiveServer, RecordPlan

SKILLS = {
    "record_qa", "next_best_action", "marketing_copy", "troubleshoot", "reply_suggestion", "ticket_lookup",
    "record_lookup",
}  # fmt: skip
EVERYONE = {"record_qa", "ticket_lookup", "record_lookup"}  # skills/defs: no required roles


def _run(coro: Callable[[], Any]) -> Any:
    return anyio.run(coro)


def _client(live_server: LiveServer, headers: dict[str, str]) -> Client:
    http = create_mcp_http_client(headers=headers)
    return Client(streamable_http_client(f"{live_server.url}/mcp", http_client=http))


def _text(result: Any) -> str:
    return "\n".join(getattr(c, "text", "") for c in result.content)


def _tool_names(live_server: LiveServer, headers: dict[str, str]) -> set[str]:
    async def main() -> Any:
        async with _client(live_server, headers) as client:
            return (await client.list_tools()).tools

    return {t.name for t in _run(main)}


def test_every_skill_is_a_tool_with_the_page_fields(live_server: LiveServer, auth: Callable[[str], dict]) -> None:
    async def main() -> Any:
        async with _client(live_server, auth("admin")) as client:
            return (await client.list_tools()).tools

    tools = {t.name: t for t in _run(main)}
    assert set(tools) == SKILLS
    qa = tools["record_qa"]
    assert qa.description
    props = qa.input_schema["properties"]
    assert {"message", "object_type", "object_id", "question"} <= set(props)
    assert props["object_id"]["type"] == "integer"
    assert set(tools["troubleshoot"].input_schema["properties"]) >= {"symptom", "error_code", "message"}


@pytest.mark.parametrize(
    ("username", "expected"),
    [
        ("rep_east_1", EVERYONE | {"next_best_action"}),
        ("service_agent_1", EVERYONE | {"troubleshoot", "reply_suggestion"}),
        ("marketer_1", EVERYONE | {"marketing_copy"}),
        ("partner_user_1", EVERYONE),
    ],
)
def test_a_caller_sees_the_tools_they_may_run_as_in_v1_skills(
    live_server: LiveServer, auth: Callable[[str], dict], username: str, expected: set[str]
) -> None:
    """tools/list and GET /v1/skills ask the same policy function (may_use_skill): the same names."""
    listed = {s["name"] for s in httpx.get(f"{live_server.url}/v1/skills", headers=auth(username)).json()["skills"]}
    assert _tool_names(live_server, auth(username)) == listed == expected


def test_a_tool_call_runs_as_the_caller(
    live_server: LiveServer, auth: Callable[[str], dict], records: dict[str, RecordPlan]
) -> None:
    """The same record, two users: its owner gets an answer; a rep of another region gets an error, no data."""
    deal = records["rep_south_1"].invisible  # rep_east_1's own deal, without rep_south_1 on its team
    assert deal is not None
    args = {"message": "这个商机现在到哪个阶段了", **deal.context}

    async def call(username: str) -> Any:
        async with _client(live_server, auth(username)) as client:
            return await client.call_tool("record_qa", args)

    owner = _run(lambda: call("rep_east_1"))
    assert not owner.is_error, _text(owner)
    assert owner.structured_content["skill"] == "record_qa"
    assert owner.structured_content["answer"] in _text(owner)

    other = _run(lambda: call("rep_south_1"))
    assert other.is_error
    error = json.loads(_text(other))["error"]
    assert error["status"] in (403, 404)
    assert not other.structured_content
    assert deal.text not in _text(other)


def test_a_role_restricted_tool_is_refused_for_other_roles(
    live_server: LiveServer, auth: Callable[[str], dict], records: dict[str, RecordPlan]
) -> None:
    async def main() -> Any:
        async with _client(live_server, auth("marketer_1")) as client:
            return await client.call_tool("reply_suggestion", {"message": "帮我回复客户"})

    result = _run(main)
    assert result.is_error
    assert json.loads(_text(result))["error"]["status"] == 403


def test_missing_or_bad_token_is_refused_at_the_door(live_server: LiveServer) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    for extra in ({}, {"Authorization": "Bearer crmc_wrong"}, {"Authorization": "Basic Zm9vOmJhcg=="}):
        response = httpx.post(f"{live_server.url}/mcp", json=body, headers=headers | extra)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthorized"
        assert "tools" not in response.text

    async def main() -> Any:
        async with _client(live_server, {}) as client:
            return await client.list_tools()

    with pytest.raises(BaseException):  # noqa: B017 - the SDK surfaces the 401 as its own error types
        _run(main)
