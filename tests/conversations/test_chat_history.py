"""``POST /v1/chat/completions``: the whole ``messages`` history is the conversation. Earlier user and
assistant turns reach the skill (and, with a model configured, the model's messages); an assistant message
that is one of the caller's own earlier answers brings back that turn's skill and record, so "更正式一点"
refines the reply on the same ticket without the client resending the page. MCP tools take
``conversation_id`` the same way."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import anyio
from fastapi.testclient import TestClient

from copilot.service.runtime import Runtime
from tests.fakes.openai_server import FakeOpenAIServer
from tests.skills.skill_support import with_fake_model

Auth = Callable[[str], dict[str, str]]
AGENT = "service_agent_1"
TICKET = {"object_type": "ticket", "object_id": 1}


def chat(client: TestClient, auth: Auth, messages: list[dict[str, str]], **extra: Any) -> dict[str, Any]:
    body = {"model": "crm-copilot", "messages": messages, **extra}
    response = client.post("/v1/chat/completions", json=body, headers=auth(AGENT))
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_an_openai_client_history_continues_the_same_skill_and_ticket(conv_client: TestClient, conv_auth: Auth) -> None:
    ask = {"role": "user", "content": "帮我回复客户"}
    first = chat(conv_client, conv_auth, [ask], context=TICKET)
    assert first["copilot"]["skill"] == "reply_suggestion"
    said = first["choices"][0]["message"]  # the answer with its sources list, as the client shows it

    second = chat(conv_client, conv_auth, [ask, said, {"role": "user", "content": "更正式一点"}])
    copilot = second["copilot"]
    assert copilot["skill"] == "reply_suggestion"
    assert copilot["routing"]["method"] == "followup"
    assert "crm:ticket:1" in {c["id"] for c in copilot["citations"]}
    assert copilot["conversation_id"] == first["copilot"]["conversation_id"]


def test_history_the_client_wrote_reaches_the_model(conv_runtime: Runtime, conv_auth: Auth) -> None:
    from copilot.api.app import create_app

    with FakeOpenAIServer(default_text="您好，工程师会按约定时间上门。") as fake:
        runtime = with_fake_model(conv_runtime, fake)
        client = TestClient(create_app(runtime, warm_up=False), raise_server_exceptions=False)
        messages = [
            {"role": "system", "content": "You are embedded in our CRM."},
            {"role": "user", "content": "客户要的配件是 ZQ-8800 号"},
            {"role": "assistant", "content": "记下了：配件 ZQ-8800，周五到货。"},
            {"role": "user", "content": "帮我回复客户"},
        ]
        out = chat(client, conv_auth, messages, context=TICKET)
        runtime.engine.dispose()  # not close(): the knowledge index is the shared runtime's
    assert out["copilot"]["skill"] == "reply_suggestion"
    sent = [m for r in fake.chat_requests() for m in r.body["messages"]]
    assert {"role": "user", "content": "客户要的配件是 ZQ-8800 号"} in sent
    assert {"role": "assistant", "content": "记下了：配件 ZQ-8800，周五到货。"} in sent
    # The client's own system message is its set-up, not the conversation: it is not passed on.
    assert all(m["content"] != "You are embedded in our CRM." for m in sent)


def test_chat_completions_continue_a_stored_conversation(conv_client: TestClient, conv_auth: Auth) -> None:
    first = chat(conv_client, conv_auth, [{"role": "user", "content": "帮我回复客户"}], context=TICKET)
    cid = first["copilot"]["conversation_id"]
    second = chat(conv_client, conv_auth, [{"role": "user", "content": "in English"}], conversation_id=cid)
    assert second["copilot"]["skill"] == "reply_suggestion" and second["copilot"]["conversation_id"] == cid
    other = conv_client.post(
        "/v1/chat/completions",
        json={"model": "crm-copilot", "messages": [{"role": "user", "content": "hi"}], "conversation_id": cid},
        headers=conv_auth("service_mgr"),
    )
    assert other.status_code == 404 and other.json()["error"]["type"] == "not_found_error"


def test_mcp_tools_take_a_conversation_id(conv_runtime: Runtime, conv_auth: Auth) -> None:
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    from copilot.api.app import create_app
    from tests.api.conftest import serve

    async def calls(url: str) -> tuple[Any, dict[str, Any], dict[str, Any], str]:
        http = create_mcp_http_client(headers=conv_auth(AGENT))
        async with Client(streamable_http_client(url, http_client=http)) as client:
            tools = {t.name: t for t in (await client.list_tools()).tools}
            one = await client.call_tool("reply_suggestion", {"message": "帮我回复客户", **TICKET})
            cid = one.structured_content["conversation_id"]
            two = await client.call_tool("reply_suggestion", {"message": "shorter", **TICKET, "conversation_id": cid})
            bad = await client.call_tool("reply_suggestion", {"message": "shorter", "conversation_id": "f" * 32})
            return (
                tools["reply_suggestion"],
                two.structured_content,
                json.loads(getattr(bad.content[0], "text", "{}")),
                cid,
            )

    with serve(create_app(conv_runtime)) as server:
        tool, second, bad, cid = anyio.run(calls, f"{server.url}/mcp")
    assert "conversation_id" in tool.input_schema["properties"]
    assert second["conversation_id"] == cid
    assert bad["error"]["status"] == 404


def test_user_messages_without_an_answer_are_history_too(conv_runtime: Runtime, conv_auth: Auth) -> None:
    from copilot.api.app import create_app

    with FakeOpenAIServer(default_text="好的。") as fake:
        runtime = with_fake_model(conv_runtime, fake)
        client = TestClient(create_app(runtime, warm_up=False), raise_server_exceptions=False)
        messages = [
            {"role": "user", "content": "客户姓王，电话我已经打过了，配件号 ZQ-9900"},
            {"role": "user", "content": "帮我回复客户"},
        ]
        chat(client, conv_auth, messages, context=TICKET)
        runtime.engine.dispose()  # not close(): the knowledge index is the shared runtime's
    sent = [m for r in fake.chat_requests() for m in r.body["messages"]]
    assert any(m["role"] == "user" and "ZQ-9900" in m["content"] for m in sent)
