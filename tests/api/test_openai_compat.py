"""The OpenAI-compatible endpoints, driven by the official ``openai`` client over real HTTP."""

from __future__ import annotations

from collections.abc import Callable

import openai
import pytest
from openai import OpenAI

from tests.api.conftest import LiveServer, RecordPlan


@pytest.fixture(scope="module")
def rep_client(live_server: LiveServer, token_for: Callable[[str], str]) -> OpenAI:
    return OpenAI(base_url=f"{live_server.url}/v1", api_key=token_for("rep_east_1"), max_retries=0, timeout=60)


def test_models_lists_the_copilot(rep_client: OpenAI) -> None:
    ids = [m.id for m in rep_client.models.list()]
    assert ids == ["crm-copilot"]
    assert rep_client.models.retrieve("crm-copilot").id == "crm-copilot"


def test_chat_completion_answers_about_the_page_record(rep_client: OpenAI, records: dict[str, RecordPlan]) -> None:
    mine = records["rep_east_1"].visible
    completion = rep_client.chat.completions.create(
        model="crm-copilot",
        messages=[
            {"role": "system", "content": "You are helpful."},
            {"role": "user", "content": "这个商机现在到哪个阶段了？"},
        ],
        extra_body={"context": mine.context, "skill": "record_qa", "locale": "zh"},
    )
    assert completion.object == "chat.completion"
    assert completion.model == "crm-copilot"
    message = completion.choices[0].message
    assert message.role == "assistant"
    assert completion.choices[0].finish_reason == "stop"
    copilot = completion.model_extra["copilot"]  # type: ignore[index]
    assert copilot["skill"] == "record_qa"
    assert copilot["trace_id"] and completion.id.endswith(copilot["trace_id"])
    assert message.content and message.content.startswith(copilot["answer"])
    # Every citation is written out, readably, after the answer.
    for citation in copilot["citations"]:
        assert f"{citation['title']} ({citation['type']}:{citation['id']})" in message.content
    if copilot["citations"]:
        assert "参考来源" in message.content


def test_streaming_gives_chunks_that_add_up_to_the_answer(rep_client: OpenAI, records: dict[str, RecordPlan]) -> None:
    mine = records["rep_east_1"].visible
    stream = rep_client.chat.completions.create(
        model="crm-copilot",
        messages=[{"role": "user", "content": "summarise this deal for me"}],
        stream=True,
        extra_body={"context": mine.context, "skill": "record_qa"},
    )
    chunks = list(stream)
    assert len(chunks) >= 3
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == "stop"
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    final = chunks[-1].model_extra["copilot"]  # type: ignore[index]
    assert final["skill"] == "record_qa"
    assert text.startswith(final["answer"]) and len(text) >= len(final["answer"])
    assert len({c.id for c in chunks}) == 1


def test_bad_token_is_an_authentication_error(live_server: LiveServer) -> None:
    bad = OpenAI(base_url=f"{live_server.url}/v1", api_key="crmc_not-a-real-token", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as info:
        bad.chat.completions.create(model="crm-copilot", messages=[{"role": "user", "content": "hi"}])
    assert info.value.status_code == 401
    body = info.value.body
    assert isinstance(body, dict) and {"message", "type", "code"} <= set(body)
    with pytest.raises(openai.AuthenticationError):
        bad.models.list()


def test_unknown_model_is_not_found(rep_client: OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        rep_client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert info.value.code == "model_not_found"
    with pytest.raises(openai.NotFoundError):
        rep_client.models.retrieve("gpt-4o")


def test_a_record_the_caller_cannot_see_is_refused_without_its_content(
    rep_client: OpenAI, records: dict[str, RecordPlan]
) -> None:
    theirs = records["rep_east_1"].invisible
    assert theirs is not None
    with pytest.raises(openai.APIStatusError) as info:
        rep_client.chat.completions.create(
            model="crm-copilot",
            messages=[{"role": "user", "content": "这个商机的金额是多少"}],
            extra_body={"context": theirs.context, "skill": "record_qa"},
        )
    assert info.value.status_code in (403, 404)
    assert theirs.text not in info.value.response.text


def test_no_user_message_and_unknown_fields_are_invalid_requests(rep_client: OpenAI) -> None:
    with pytest.raises(openai.UnprocessableEntityError):
        rep_client.chat.completions.create(model="crm-copilot", messages=[{"role": "system", "content": "only"}])
    with pytest.raises(openai.UnprocessableEntityError) as info:
        rep_client.chat.completions.create(
            model="crm-copilot", messages=[{"role": "user", "content": "hi"}], extra_body={"contxt": {}}
        )
    assert info.value.body["type"] == "invalid_request_error"  # type: ignore[index]
