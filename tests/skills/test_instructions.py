"""skills.instructions: the structured parts of a writing request, read from the person's words."""

from __future__ import annotations

import pytest

from skills.instructions import char_count, checks_done, read_instructions, trim_to


@pytest.mark.parametrize(
    ("message", "want"),
    [
        ("in English please", {"language": "en"}),
        ("改成中文", {"language": "zh"}),
        ("三个 email subject line", {"count": 3, "channels": ["email"], "part": "subject"}),
        ("give me three subject lines", {"count": 3, "part": "subject"}),
        ("写一条短信，给我两个版本", {"count": 2, "channels": ["sms"]}),
        ("企业微信、朋友圈和短信各一条", {"count": 1, "channels": ["wecom", "moments", "sms"]}),
        ("70字以内", {"max_chars": 70}),
        ("不超过七十字", {"max_chars": 70}),
        ("under 70 characters", {"max_chars": 70}),
        ("更正式一点", {"tone": "formal"}),
        ("make it more casual", {"tone": "casual"}),
        ("shorter", {"shorter": True}),
        ("第二条", {"ordinal": 2}),
        ("the second one", {"ordinal": 2}),
        ("换个开头", {"rephrase": True}),
        ("对象是医疗器械经销商", {"audience": "医疗器械经销商"}),
        ("an SMS for webinar registrants", {"channels": ["sms"], "audience": "webinar registrants"}),
    ],
)
def test_reads_each_part(message: str, want: dict[str, object]) -> None:
    got = read_instructions(message, "zh").as_data()
    assert {k: got.get(k) for k in want} == want


def test_time_units_are_not_counts() -> None:
    # "三个月" and "两周" are durations, "70字" a length, "第二条" an ordinal: none is a number of variants.
    assert read_instructions("三个月没联系的客户，两周内，70字，第二条", "zh").count is None


def test_an_agents_plan_is_turned_to_the_customer() -> None:
    zh = read_instructions("帮我回复客户，告诉他工程师明天上午上门，语气正式一点", "zh")
    assert zh.stated == ["工程师明天上午上门"] and zh.tone == "formal"
    en = read_instructions("let the customer know that their replacement nozzle ships on Friday", "en")
    assert en.stated == ["Your replacement nozzle ships on Friday"]


def test_a_follow_up_carries_the_earlier_turn_over() -> None:
    first = read_instructions("写三条朋友圈文案，面向制造业客户", "zh")
    follow = read_instructions("更正式一点", "zh")
    assert follow.refines_only and not first.refines_only
    merged = follow.over(first.as_data())
    assert merged.count == 3 and merged.channels == ["moments"] and merged.tone == "formal"


def test_counting_and_trimming_like_a_marketer() -> None:
    assert char_count("【星衡】新品上市，回T退订") == 13
    cut = trim_to("第一句很长很长的内容，第二句也不短，第三句", 14, "回T退订")
    assert char_count(cut) <= 14 and cut.endswith("回T退订")
    assert checks_done("按你说的做了，报警暂时消除了") and not checks_done("还是报警")


@pytest.mark.parametrize(
    ("message", "stated"),
    [
        ("帮客户回个话，说工程师后天上午过去", ["工程师后天上午过去"]),
        ("写个回复给客户，让他放心，我们今天就安排人", ["请您放心，我们今天就安排人"]),
        ("起草一个回复，请客户确认报警是否还会出现", ["请您确认报警是否还会出现"]),
        ("回复一下，顺便问问客户设备现在还报不报警", ["想跟您确认一下：设备现在还报不报警？"]),
        (
            "write a short English reply telling the customer we'll call them this afternoon",
            ["We'll call you this afternoon"],
        ),
        ("帮我回复客户，说明一下情况", []),
        ("帮我回复客户", []),
    ],
)
def test_what_the_agent_wants_said(message: str, stated: list[str]) -> None:
    assert read_instructions(message, "zh").stated == stated


def test_audiences_people_name() -> None:
    assert read_instructions("给老客户发一条企业微信", "zh").audience == "老客户"
    assert read_instructions("面向快消品牌的渠道经理", "zh").audience == "快消品牌的渠道经理"
    assert read_instructions("面向制造业客户的推广文案", "zh").audience == "制造业客户"
    assert read_instructions("给这次研讨会写邀请邮件", "zh").audience is None


def test_writing_words_and_requests_to_the_customer() -> None:
    assert read_instructions("回个消息，告诉他们配件周五寄出，措辞正式些").stated == ["配件周五寄出"]
    assert read_instructions("reply asking them to restart the controller, keep it short").stated == [
        "Could you please restart the controller?"
    ]
    assert read_instructions("reply in under 40 words").max_words == 40


def test_trimming_drops_clauses_rather_than_cutting_one() -> None:
    text = "新品上市，这是一段非常非常长而且无法在限定字数里完整放下的介绍内容，欢迎咨询。"
    out = trim_to(text, 12)
    assert "…" not in out and char_count(out) <= 12 and out.startswith("新品上市") and "欢迎咨询" in out
    # An opening too long to keep whole is cut where it pauses (：、), not mid-word.
    opening = trim_to("【星衡】RB-20 机器人：中文界面、模板丰富、编程门槛低，欢迎咨询", 24, "，回T退订")
    assert opening == "【星衡】RB-20 机器人：中文界面，回T退订"


def test_plans_in_the_other_language() -> None:
    from skills.plan_phrases import render_plan

    assert render_plan("our engineer will phone you this afternoon", "zh") == "工程师今天下午会给您打电话"
    assert render_plan("师傅周二上午到现场", "en") == "Our engineer will visit you on Tuesday morning"
    assert render_plan("升级包已经发到您的邮箱", "en") == "The firmware upgrade package has been sent to your email"
    assert render_plan("我们会重新评估方案并给出报价", "en") is None  # not in the table: never half-translated
    assert render_plan("工程师明天上门", "zh") == "工程师明天上门"
