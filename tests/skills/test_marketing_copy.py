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
    explicit = ask(
        skills_runtime, "marketer_1", "marketing_copy", "写一条短信推广 SC-400", input={"channel": "poster"}
    )
    assert explicit.data["channel"] == "poster"
