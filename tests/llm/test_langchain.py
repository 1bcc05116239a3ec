"""LangChain interop: the gateway composes as a BaseChatModel, and stays off the request path."""

from __future__ import annotations

import subprocess
import sys

from copilot.core.settings import Settings
from copilot.llm.gateway import Gateway
from tests.fakes.openai_server import FakeOpenAIServer


def test_invoke_and_stream_through_the_fake_server(fake_openai: FakeOpenAIServer) -> None:
    from langchain_core.messages import HumanMessage, SystemMessage

    from copilot.llm.langchain import GatewayChatModel

    model = GatewayChatModel(gateway=Gateway.from_settings(fake_openai.settings()), names=["王建国"])
    fake_openai.echo().echo(chunk_size=2)
    msgs = [SystemMessage("你是助手"), HumanMessage("王建国的电话是 13812345678 吗？")]

    answer = model.invoke(msgs)
    streamed = "".join(str(c.content) for c in model.stream(msgs))

    assert answer.content == "王建国的电话是 13812345678 吗？" == streamed
    assert answer.response_metadata["provider"] == "openai"
    assert "13812345678" not in fake_openai.all_request_text() and "王建国" not in fake_openai.all_request_text()


def test_offline_gateway_answers_and_says_it_is_offline() -> None:
    from copilot.llm.langchain import GatewayChatModel

    model = GatewayChatModel(gateway=Gateway.from_settings(Settings(llm_provider="offline")))
    answer = model.invoke("hello")
    assert answer.response_metadata["provider"] == "offline"
    assert "no language model is configured" in str(answer.content)


def test_importing_the_gateway_does_not_import_langchain() -> None:
    code = "import copilot.llm, copilot.llm.gateway, sys; print('langchain_core' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
