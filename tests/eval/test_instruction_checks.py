"""eval.instruction_checks: each check can fail, and passes only when the writer did what was asked."""

from __future__ import annotations

from typing import Any

import pytest

from eval.instruction_checks import judge, language_of, load_user_cases
from skills.base import SkillResult


def _copy(by_channel: dict[str, list[dict[str, str]]], answer: str = "", **data: Any) -> SkillResult:
    variants = [v for vs in by_channel.values() for v in vs]
    return SkillResult(
        skill="marketing_copy",
        answer=answer or "\n".join(v.get("body", "") for v in variants),
        data={"by_channel": by_channel, "variants": variants, **data},
    )


def test_language_reads_the_share_of_chinese() -> None:
    assert language_of("Dear 卢刚, your ticket GD202611200030 is in progress; step: 远程诊断.") == "en"
    assert language_of("卢工您好，LC-6020 报 E-204 的问题我们已收到。") == "zh"


def test_count_wants_distinct_variants_per_channel() -> None:
    case = {"checks": {"count": 2, "channels": ["sms"]}}
    same = _copy({"sms": [{"body": "【星衡】RB-20 上市"}, {"body": "【星衡】RB-20 上市"}]})
    different = _copy({"sms": [{"body": "【星衡】RB-20 上市"}, {"body": "【星衡】RB-20 负载 20 kg"}]})
    assert judge(None, "marketing_copy", case, same)["count"] is False  # type: ignore[arg-type]
    assert judge(None, "marketing_copy", case, different) == {"count": True, "channels": True, "no_banned": True}  # type: ignore[arg-type]


def test_channels_length_notes_and_banned_terms() -> None:
    case = {"checks": {"channels": ["wecom", "sms"], "max_chars": 10, "note": ["最先进"]}}
    result = _copy({"sms": [{"body": "这一条短信超过了十个字符的限制"}]}, answer="正文\n【说明】您写的最先进是禁用词")
    got = judge(None, "marketing_copy", case, result)  # type: ignore[arg-type]
    assert got["channels"] is False and got["max_chars"] is False and got["note"] is True
    banned = _copy({"wecom": [{"body": "行业第一的切割机"}]})
    assert judge(None, "marketing_copy", {"checks": {}}, banned)["no_banned"] is False  # type: ignore[arg-type]


def test_a_question_back_is_what_a_case_without_a_product_wants() -> None:
    asked = SkillResult(skill="marketing_copy", answer="哪个产品？", data={"needs_choice": {"options": [{}, {}]}})
    assert judge(None, "marketing_copy", {"checks": {"needs_choice": 2}}, asked) == {"needs_choice": True}  # type: ignore[arg-type]
    refused = SkillResult(skill="marketing_copy", answer="写好了")
    assert judge(None, "marketing_copy", {"checks": {"needs_choice": 2}}, refused) == {"needs_choice": False}  # type: ignore[arg-type]


@pytest.mark.parametrize("skill", ["reply_suggestion", "marketing_copy"])
def test_at_least_twenty_user_phrased_cases_with_checks(skill: str) -> None:
    cases = load_user_cases(skill)
    assert len(cases) >= 20 and all(c.get("checks") for c in cases)
    assert len({c["id"] for c in cases}) == len(cases)
