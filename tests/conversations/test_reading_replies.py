"""Reading a short reply against the previous answer: a refinement of it, or the option it picks.

The phrasings here are ours, not the evaluation suite's (eval/datasets/conversation.yaml), and none of
them is in the vocabulary verbatim except where the vocabulary is the rule ("第二个", "option 2")."""

from __future__ import annotations

import pytest

from copilot.service.conversation import is_refinement, pick

OPTIONS = [
    {"label": "GD202611200121 H-30 报警反复出现"},
    {"label": "GD202611200030 设备无法运行"},
    {"label": "GD202611200008 请求上门检修"},
]


@pytest.mark.parametrize(
    "reply",
    [
        "再正式些",
        "写得更正式一点",
        "短点",
        "精简一下",
        "换成英文",
        "用中文回复",
        "换个说法",
        "第二条",
        "make it more formal",
        "shorter please",
        "in English",
        "another version",
        "too long",
    ],
)
def test_refinements(reply: str) -> None:
    assert is_refinement(reply)


@pytest.mark.parametrize(
    "message",
    [
        "我名下还没关闭的高优先级工单有哪些",
        "这个商机下一步怎么推进",
        "帮我回复客户",
        "写一条朋友圈文案推广 SC-400",
        "what should I do next on this deal",
        "list my open tickets from last week",
        "把这个客户最近三个月的所有工单、商机和回款情况都整理一下，写得简短一点",
    ],
)
def test_new_requests_are_not_refinements(message: str) -> None:
    assert not is_refinement(message)


@pytest.mark.parametrize(
    ("reply", "index"),
    [
        ("1", 0),
        ("2.", 1),
        ("#3", 2),
        ("第一个吧", 0),
        ("选第三个", 2),
        ("就选第二张工单", 1),
        ("3吧", 2),
        ("the second one", 1),
        ("the last one", 2),
        ("option 2", 1),
        ("go with option 3", 2),
        ("GD202611200030", 1),
        ("设备无法运行那个", 1),
        ("请求上门检修", 2),
    ],
)
def test_a_reply_picks_an_option(reply: str, index: int) -> None:
    assert pick(reply, OPTIONS) == index


@pytest.mark.parametrize("reply", ["4", "第五个", "帮我回复客户", "第二季度的商机有哪些都列出来吧", "GD2026", ""])
def test_a_reply_that_picks_nothing(reply: str) -> None:
    assert pick(reply, OPTIONS) is None


def test_a_name_shared_by_two_options_is_no_choice() -> None:
    options = [{"label": "LC-3015 光纤激光切割机"}, {"label": "LC-6020 光纤激光切割机"}]
    assert pick("光纤激光切割机", options) is None
    assert pick("LC-6020", options) == 1
