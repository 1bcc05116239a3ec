"""What reaches the model in a conversation, through the fake OpenAI-compatible server over real HTTP.

For each skill: a request carrying a distinctive instruction reaches the model's messages; a follow-up in
the same conversation, with no page open and no skill named, goes to the same skill on the same record,
and the previous answer reaches the model's messages too. A record the asker lost access to is not quoted
from history; personal data in history is masked before it leaves.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from copilot.crm.principal import load_principal
from copilot.crm.repository import Records
from copilot.service.conversation import ConversationService
from copilot.service.runtime import Runtime
from copilot.store import conversations as store
from skills.base import PageContext, SkillRequest, SkillResult
from tests.fakes.openai_server import FakeOpenAIServer
from tests.skills.skill_support import with_fake_model

MARK = "ZQ-7731"


def first_opportunity_of(runtime: Runtime, username: str) -> int:
    from copilot.crm.models import Opportunity, RecordTeamMember, User

    with runtime.sessions() as s:
        uid = s.scalar(select(User.id).where(User.username == username))
        on_team = select(RecordTeamMember.record_id).where(
            RecordTeamMember.object_type == "opportunity", RecordTeamMember.user_id == uid
        )
        found = s.scalar(
            select(Opportunity.id)
            .where(Opportunity.owner_id == uid, Opportunity.partner_id.is_(None), Opportunity.id.notin_(on_team))
            .order_by(Opportunity.id)
        )
        assert found is not None
        return int(found)


def turn(
    runtime: Runtime,
    username: str,
    message: str,
    *,
    context: tuple[str, int] | None = None,
    skill: str | None = None,
    conversation_id: str | None = None,
    input: dict[str, Any] | None = None,
) -> SkillResult:
    page = PageContext(object_type=context[0], object_id=context[1]) if context else None
    request = SkillRequest(message=message, context=page, input=input or {})
    with runtime.sessions() as session:
        result = runtime.assistant.turn(
            session, load_principal(session, username), request, skill=skill, conversation_id=conversation_id
        )
        session.commit()
        return result


def sent_since(fake: FakeOpenAIServer, start: int) -> str:
    """The text of every message sent to the model since request number ``start``."""
    texts = []
    for r in fake.chat_requests()[start:]:
        for m in (r.body or {}).get("messages", []):
            content = m.get("content")
            texts.append(content if isinstance(content, str) else str(content))
    return "\n".join(texts)


def stored_context(runtime: Runtime, username: str, conversation_id: str) -> list[tuple[str | None, int | None]]:
    with runtime.sessions() as s:
        conv = store.owned(s, load_principal(s, username).user_id, conversation_id)
        return [(t.object_type, t.object_id) for t in store.turns(s, conv)]


CASES = [
    # skill, user, page, first request (with the distinctive instruction), follow-up, extra input
    ("reply_suggestion", "service_agent_1", ("ticket", 1), f"帮我回复客户，告诉他工程师周四下午带 {MARK} 号配件上门",
     "更正式一点", None),
    ("troubleshoot", "service_agent_1", ("ticket", 1), f"A-17 怎么处理？客户说已经换过 {MARK} 号电缆了",
     "shorter", None),
    ("record_qa", "rep_east_1", "opportunity", f"这个商机现在什么阶段？提醒我报价单编号是 {MARK}",
     "in English", None),
    ("next_best_action", "rep_east_1", "opportunity", f"下一步该做什么？客户的 {MARK} 项目下周评审",
     "第二条改得更正式一点", None),
    ("marketing_copy", "marketer_1", None, f"写一条企业微信消息推广 LC-3015，结尾加上活动口令 {MARK}",
     "换个开头", {"product": "LC-3015"}),
    ("ticket_lookup", "service_agent_1", None, f"我名下还没关闭的工单里，配件号 {MARK} 的有哪些",
     "in English", None),
    ("record_lookup", "rep_east_1", None, f"我名下还在跟的商机，项目代号 {MARK} 的有哪些",
     "in English", None),
]


@pytest.fixture(scope="module")
def fake_runtime(conv_runtime: Runtime) -> Any:
    with FakeOpenAIServer(default_text="好的。我们会按计划安排。") as fake:
        runtime = with_fake_model(conv_runtime, fake)
        yield runtime, fake
        runtime.engine.dispose()  # not close(): the knowledge index is the shared runtime's


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_the_request_and_the_previous_answer_reach_the_model(
    fake_runtime: tuple[Runtime, FakeOpenAIServer], conv_runtime: Runtime, case: tuple[Any, ...]
) -> None:
    runtime, fake = fake_runtime
    skill, user, page, message, follow_up, input = case
    if page == "opportunity":
        page = ("opportunity", first_opportunity_of(conv_runtime, user))
    start = len(fake.chat_requests())
    first = turn(runtime, user, message, context=page, skill=skill, input=input)
    assert first.skill == skill
    assert MARK in sent_since(fake, start), f"{skill}: the request's own words never reached the model"

    start = len(fake.chat_requests())
    second = turn(runtime, user, follow_up, conversation_id=first.conversation_id)
    assert second.skill == skill and second.routing and second.routing["method"] == "followup"
    where = page or (None, None)
    assert stored_context(runtime, user, first.conversation_id or "") == [where, where]
    sent = sent_since(fake, start)
    lines = [line.strip() for line in first.answer.splitlines() if len(line.strip()) >= 6]
    assert lines and any(line in sent for line in lines), f"{skill}: the previous answer did not reach the model"
    assert follow_up in sent


def test_history_from_a_record_the_user_lost_is_not_quoted(
    fake_runtime: tuple[Runtime, FakeOpenAIServer], conv_runtime: Runtime
) -> None:
    from copilot.crm.models import Opportunity, User

    runtime, fake = fake_runtime
    opp_id = first_opportunity_of(conv_runtime, "rep_east_1")
    with conv_runtime.sessions() as s:
        opp = s.get(Opportunity, opp_id)
        assert opp is not None
        name, owner = opp.name, opp.owner_id
    # Answered offline (the template quotes the record), continued through the model: one database.
    first = turn(conv_runtime, "rep_east_1", "这个商机的基本情况", context=("opportunity", opp_id), skill="record_qa")
    assert name in first.answer
    try:
        with conv_runtime.sessions() as s:  # the deal moves to another region's rep: rep_east_1 loses it
            south = s.scalar(select(User.id).where(User.username == "rep_south_1"))
            s.get(Opportunity, opp_id).owner_id = south  # type: ignore[union-attr]
            s.commit()
        with conv_runtime.sessions() as s:
            assert not Records(s, load_principal(s, "rep_east_1")).may_read("opportunity", opp_id)
        start = len(fake.chat_requests())
        again = turn(runtime, "rep_east_1", "再说一遍刚才那个商机，shorter", conversation_id=first.conversation_id)
        assert name not in sent_since(fake, start)
        assert name not in again.answer
        with conv_runtime.sessions() as s:
            conv = store.owned(s, load_principal(s, "rep_east_1").user_id, first.conversation_id or "")
            shown = ConversationService()._recheck(Records(s, load_principal(s, "rep_east_1")), store.turns(s, conv))
        assert shown[0].prior.answer == "" and shown[0].prior.context is None  # only the user's own words
    finally:
        with conv_runtime.sessions() as s:
            s.get(Opportunity, opp_id).owner_id = owner  # type: ignore[union-attr]
            s.commit()


def test_personal_data_in_history_is_masked_before_it_reaches_the_model(
    fake_runtime: tuple[Runtime, FakeOpenAIServer],
) -> None:
    runtime, fake = fake_runtime
    phone = "13912345678"
    message = f"帮我回复客户，他的手机是 {phone}"
    first = turn(runtime, "service_agent_1", message, context=("ticket", 1), skill="reply_suggestion")
    start = len(fake.chat_requests())
    turn(runtime, "service_agent_1", "更正式一点", conversation_id=first.conversation_id)
    sent = sent_since(fake, start)
    assert "更正式一点" in sent and phone not in sent
