"""marketing_copy: channel shapes, claims only from the KB and records, zero banned terms."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from copilot.core.errors import Forbidden
from copilot.crm.models import Campaign
from copilot.service.runtime import Runtime
from skills import compliance
from tests.skills.skill_support import ask, with_fake_model

PRODUCTS = ["LC-3015", "LC-6020", "RB-20", "CR-7", "BA-800", "HA-5", "SC-400", "DC-CLOUD"]


@pytest.mark.parametrize("code", PRODUCTS)
@pytest.mark.parametrize("language", ["zh", "en"])
def test_sms_never_exceeds_70_characters(skills_runtime: Runtime, code: str, language: str) -> None:
    result = ask(
        skills_runtime,
        "marketer_1",
        "marketing_copy",
        "写一条短信",
        input={"channel": "sms", "product": code, "language": language, "variants": 3},
    )
    bodies = [v["body"] for v in result.data["variants"]]
    assert len(bodies) == 3 and all(len(b) <= 70 for b in bodies)
    assert all(("退订" in b) if language == "zh" else ("opt out" in b) for b in bodies)


def test_claims_come_from_the_product_sheet_and_are_cited(skills_runtime: Runtime) -> None:
    result = ask(
        skills_runtime,
        "marketer_1",
        "marketing_copy",
        "写篇公众号文章介绍这款产品",
        input={"channel": "article", "product": "LC-3015", "length": "long"},
    )
    variant = result.data["variants"][0]
    assert set(variant) == {"title", "keywords", "description", "body"}
    assert "随动切割头" in variant["body"]  # a feature line of the LC-3015 sheet
    assert "lc-3015-product-sheet" in result.data["sources"]
    assert any(c.type == "kb" and "lc-3015-product-sheet" in c.id for c in result.citations)
    assert any(c.id.startswith("crm:product:") for c in result.citations)


def test_campaign_email_has_subject_and_body_from_the_campaign(skills_runtime: Runtime) -> None:
    with skills_runtime.sessions() as s:
        campaign = s.scalars(select(Campaign).order_by(Campaign.id)).first()
    assert campaign is not None
    result = ask(
        skills_runtime,
        "marketer_1",
        "marketing_copy",
        "给这次研讨会写邀请邮件",
        f"campaign:{campaign.id}",
        input={"channel": "email", "variants": 2},
    )
    assert len(result.data["variants"]) == 2
    assert all(campaign.name in v["subject"] and v["body"] for v in result.data["variants"])
    assert f"crm:campaign:{campaign.id}" in {c.id for c in result.citations}


def test_poster_in_english(skills_runtime: Runtime) -> None:
    result = ask(
        skills_runtime,
        "marketer_1",
        "marketing_copy",
        "poster copy please",
        input={"channel": "poster", "product": "CR-7", "language": "en"},
    )
    variant = result.data["variants"][0]
    assert set(variant) == {"headline", "sub", "cta"} and "CR-7" in variant["headline"]


def test_fake_model_writing_banned_terms_is_rewritten(skills_runtime: Runtime, fake_openai: Any) -> None:
    fake_openai.reply(
        json.dumps(
            {
                "variants": [
                    {"body": "LC-3015 行业第一、最先进的激光切割机，100%零故障！"},
                    {"body": "The best, world-class cutter. Guaranteed."},
                ]
            },
            ensure_ascii=False,
        )
    )
    result = ask(
        with_fake_model(skills_runtime, fake_openai),
        "marketer_1",
        "marketing_copy",
        "写一条企业微信消息",
        input={"channel": "wecom", "product": "LC-3015", "variants": 2},
    )
    assert result.provider == "openai" and not result.degraded
    everything = result.answer + json.dumps(result.data["variants"], ensure_ascii=False)
    assert compliance.find_banned(everything) == []
    assert "采用新一代技术" in result.answer
    rewritten = {c["term"] for c in result.data["compliance"]["rewritten"]}
    assert {"第一", "最先进", "100%", "零故障", "best", "world-class", "guaranteed"} <= rewritten
    assert "compliance_review_needed" in result.warnings


def test_offline_copy_for_every_channel_has_no_banned_terms(skills_runtime: Runtime) -> None:
    for channel in ("wecom", "moments", "email", "sms", "poster", "article"):
        for lang in ("zh", "en"):
            result = ask(
                skills_runtime,
                "marketer_1",
                "marketing_copy",
                "copy",
                input={"channel": channel, "product": "BA-800", "language": lang, "variants": 2},
            )
            text = result.answer + json.dumps(result.data["variants"], ensure_ascii=False)
            assert compliance.find_banned(text) == [], (channel, lang)


def test_only_marketers(skills_runtime: Runtime) -> None:
    with pytest.raises(Forbidden):
        ask(
            skills_runtime, "rep_east_1", "marketing_copy", "写一条短信", input={"channel": "sms", "product": "LC-3015"}
        )


def test_a_request_in_plain_words_fills_the_form() -> None:
    from skills.marketing_copy import understood_from_message

    codes = ["LC-3015", "LC-6020", "SC-400"]
    assert understood_from_message("写一条企业微信消息推广 LC-3015", codes) == {
        "channel": "wecom",
        "product": "LC-3015",
        "variants": 1,
    }
    assert understood_from_message("give me 3 SMS variants for the sc-400 in English", codes) == {
        "channel": "sms",
        "product": "SC-400",
        "variants": 3,
        "language": "en",
    }
    assert understood_from_message("帮我写两版朋友圈文案", codes) == {"channel": "moments", "variants": 2}


def test_plain_words_are_enough_and_the_form_wins(skills_runtime: Runtime) -> None:
    result = ask(skills_runtime, "marketer_1", "marketing_copy", "写一条短信推广 SC-400，给我两个版本")
    assert result.data["channel"] == "sms" and len(result.data["variants"]) == 2
    assert any("SC-400" in c.title for c in result.citations)
    explicit = ask(skills_runtime, "marketer_1", "marketing_copy", "写一条短信推广 SC-400", input={"channel": "poster"})
    assert explicit.data["channel"] == "poster"


def _turn(
    runtime: Runtime,
    message: str,
    *,
    skill: str | None = "marketing_copy",
    conversation: str | None = None,
    context: str | None = None,
) -> Any:
    from copilot.crm.principal import load_principal
    from skills.base import PageContext, SkillRequest

    page = None
    if context:
        kind, _, rid = context.partition(":")
        page = PageContext(object_type=kind, object_id=int(rid))
    with runtime.sessions() as s:
        result = runtime.assistant.turn(
            s,
            load_principal(s, "marketer_1"),
            SkillRequest(message=message, context=page),
            skill=skill,
            conversation_id=conversation,
        )
        s.commit()
    return result


def test_every_channel_asked_within_the_length_asked(skills_runtime: Runtime) -> None:
    from skills.instructions import char_count

    result = _turn(skills_runtime, "企业微信、朋友圈和短信各写一条，推广CR-7，70字以内")
    by_channel = result.data["by_channel"]
    assert list(by_channel) == ["wecom", "moments", "sms"]
    assert all(len(vs) == 1 and char_count(vs[0]["body"]) <= 70 for vs in by_channel.values())


def test_three_subject_lines_are_three_different_subjects(skills_runtime: Runtime) -> None:
    result = _turn(skills_runtime, "三个 email subject line，推广 LC-3015")
    subjects = [v["subject"] for v in result.data["variants"]]
    assert result.data["channel"] == "email" and len(subjects) == 3 and len(set(subjects)) == 3
    assert all(s in result.answer for s in subjects)


def test_no_product_named_asks_which_and_the_answer_picks_it(skills_runtime: Runtime) -> None:
    asked = _turn(skills_runtime, "写一封活动邀请函，对象是医疗器械经销商")
    need = asked.data["needs_choice"]
    assert asked.skill == "marketing_copy" and len(need["options"]) >= 2
    first = need["options"][0]
    picked = _turn(skills_runtime, "1", skill=None, conversation=asked.conversation_id)
    assert picked.skill == "marketing_copy" and picked.data["variants"]
    assert picked.data["audience"] == "医疗器械经销商"  # the original request runs, with the choice filled in
    if "context" in first:
        assert f"crm:campaign:{first['context']['object_id']}" in {c.id for c in picked.citations}


def test_an_event_that_is_over_is_not_advertised_as_upcoming(skills_runtime: Runtime) -> None:
    import datetime as dt

    with skills_runtime.sessions() as s:
        today = skills_runtime.settings.today or dt.date.today()
        over = s.scalars(select(Campaign).where(Campaign.end_date < today).order_by(Campaign.id)).first()
    assert over is not None
    result = _turn(skills_runtime, "写一条朋友圈预告，邀请大家报名", context=f"campaign:{over.id}")
    copy = json.dumps(result.data["variants"], ensure_ascii=False)
    assert result.data["event_state"] == "over"
    assert not any(w in copy for w in ("将于", "诚邀", "报名参加"))
    assert any("结束" in n for n in result.data["notes"]) and "结束" in result.answer


def test_a_banned_term_the_marketer_typed_is_named_and_left_out(skills_runtime: Runtime) -> None:
    result = _turn(skills_runtime, "写一条短信推广 SC-400，要突出它是业内最先进的冷柜")
    copy = json.dumps(result.data["variants"], ensure_ascii=False)
    assert compliance.find_banned(copy) == []
    assert any("最先进" in n and "广告法" in n for n in result.data["notes"])


def test_a_price_question_is_answered_from_the_product_record(skills_runtime: Runtime) -> None:
    from copilot.crm.models import Product

    with skills_runtime.sessions() as s:
        product = s.scalars(select(Product).where(Product.code == "LC-3015")).one()
        price = f"{float(product.list_price):,.0f}"
    result = _turn(skills_runtime, "LC-3015 现在卖多少钱？")
    assert price in result.answer and f"crm:product:{product.id}" in {c.id for c in result.citations}


def test_a_configured_model_gets_the_request_and_the_previous_copy(skills_runtime: Runtime, fake_openai: Any) -> None:
    runtime = with_fake_model(skills_runtime, fake_openai)
    fake_openai.reply(
        json.dumps(
            {"variants": [{"channel": "moments", "body": "RB-20 来了，负载 20 kg，欢迎了解"}]}, ensure_ascii=False
        )
    )
    first = _turn(runtime, "写一条朋友圈文案推广 RB-20，要有点幽默感")
    fake_openai.reply(
        json.dumps({"variants": [{"channel": "moments", "body": "尊敬的客户：RB-20 负载 20 kg。"}]}, ensure_ascii=False)
    )
    second = _turn(runtime, "更正式一点", skill=None, conversation=first.conversation_id)
    sent = fake_openai.all_request_text()
    assert "要有点幽默感" in sent and "更正式一点" in sent
    assert "RB-20 来了，负载 20 kg，欢迎了解" in sent  # the previous copy reached the model
    assert second.skill == "marketing_copy" and second.data["input"]["product"] == "RB-20"


def test_a_shorter_follow_up_keeps_the_language_and_is_shorter(skills_runtime: Runtime) -> None:
    first = _turn(skills_runtime, "帮我写个短信宣传一下 RB-20 协作机器人")
    second = _turn(skills_runtime, "trim it", skill=None, conversation=first.conversation_id)
    assert second.skill == "marketing_copy" and second.data["language"] == "zh"
    before = first.data["variants"][0]["body"]
    after = second.data["variants"][0]["body"]
    assert len(after) < len(before) and "退订" in after


def test_an_invitation_is_never_built_on_an_event_that_is_over(skills_runtime: Runtime) -> None:
    import datetime as dt

    with skills_runtime.sessions() as s:
        today = skills_runtime.settings.today or dt.date.today()
        over = {c.id for c in s.scalars(select(Campaign).where(Campaign.end_date < today))}
    result = _turn(skills_runtime, "帮我起草一份研讨会的邀请函，发给汽车配件厂的采购")
    cited = {c.id for c in result.citations}
    assert not any(f"crm:campaign:{cid}" in cited for cid in over)
    assert "needs_choice" in result.data or result.data.get("event_state") != "over"
    assert "圆满结束" not in result.answer and "已于" not in result.answer
