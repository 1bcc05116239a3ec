"""PII masking: realistic Chinese CRM text, checksum-validated numbers, exact round trips, streaming."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from copilot.llm.gateway import Gateway
from copilot.llm.pii import Masker, luhn_ok, valid_id_card
from prompts import Registry
from tests.fakes.openai_server import FakeOpenAIServer

PHONE = "13812345678"
PHONE_SPACED = "+86 138-1234-5678"
EMAIL = "wang.jianguo@hd-auto.com.cn"
ID_CARD = "11010519491231002X"  # valid GB 11643 checksum
BANK_CARD = "6222 0202 0000 0000 006"  # 19 digits, Luhn-valid
LANDLINE = "021-58881234"
NAMES = ["王建国", "张伟"]

WECOM = (
    f"【企业微信】王建国：张伟你好，合同盖章版已寄出，收到请回电 {PHONE}（或 {PHONE_SPACED}），"
    f"邮件发 {EMAIL} 也行。开票信息：身份证 {ID_CARD}，对公账户 {BANK_CARD}，座机 {LANDLINE}。"
)
SECRETS = [PHONE, "138-1234-5678", EMAIL, ID_CARD, BANK_CARD, LANDLINE, *NAMES]


def test_wecom_message_is_masked_and_restored() -> None:
    masker = Masker(NAMES)
    masked = masker.mask(WECOM)

    for secret in SECRETS:
        assert secret not in masked, secret
    for placeholder in ("⟦PHONE_1⟧", "⟦PHONE_2⟧", "⟦EMAIL_1⟧", "⟦IDCARD_1⟧", "⟦BANKCARD_1⟧", "⟦LANDLINE_1⟧"):
        assert placeholder in masked
    assert "⟦NAME_1⟧" in masked and "⟦NAME_2⟧" in masked
    assert "合同盖章版已寄出" in masked  # the rest of the message is untouched
    assert masker.unmask(masked) == WECOM
    assert masker.counts == {"NAME": 2, "PHONE": 2, "EMAIL": 1, "IDCARD": 1, "BANKCARD": 1, "LANDLINE": 1}


def test_same_value_gets_the_same_placeholder_across_messages() -> None:
    masker = Masker(["王建国"])
    a = masker.mask(f"王建国 {PHONE}")
    b = masker.mask(f"请王建国回电 {PHONE}")
    assert a == "⟦NAME_1⟧ ⟦PHONE_1⟧" and b == "请⟦NAME_1⟧回电 ⟦PHONE_1⟧"


@pytest.mark.parametrize(
    "text",
    [
        "订单号 110105194912310021 已发货",  # 18 digits, ID checksum wrong: an order number
        "设备序列号 SN20261104000123，报警码 E-204",
        "银行流水 6222020200000000008",  # 19 digits, Luhn fails
        "金额 1,280,000 元，数量 12 台，型号 LC-3015",
        "报价单编号 2026110412345678901234",  # too long for any card
        "电话 12345678901",  # not a mobile prefix
    ],
)
def test_look_alike_numbers_are_left_alone(text: str) -> None:
    masker = Masker()
    assert masker.mask(text) == text


@pytest.mark.parametrize(
    "phone", ["13812345678", "138 1234 5678", "138-1234-5678", "+8613812345678", "+86 138 1234 5678"]
)
def test_mobile_number_formats(phone: str) -> None:
    assert Masker().mask(f"手机{phone}。") == "手机⟦PHONE_1⟧。"


def test_checksums() -> None:
    assert valid_id_card(ID_CARD) and valid_id_card(ID_CARD.lower())
    assert not valid_id_card("110105194912310021")
    assert luhn_ok("6222020200000000006") and not luhn_ok("6222020200000000008")


def test_text_that_already_looks_like_a_placeholder_survives() -> None:
    masker = Masker()
    text = "模板里写着 ⟦PHONE_1⟧，真实号码 13812345678"
    masked = masker.mask(text)
    assert "13812345678" not in masked
    assert masker.unmask(masked) == text


def test_unknown_placeholders_from_the_model_are_left_as_is() -> None:
    masker = Masker()
    masker.mask(PHONE)
    assert masker.unmask("call ⟦PHONE_1⟧ or ⟦PHONE_9⟧") == f"call {PHONE} or ⟦PHONE_9⟧"


def test_stream_unmasking_reassembles_placeholders_split_anywhere() -> None:
    masker = Masker(NAMES)
    masked = masker.mask(WECOM)
    for size in range(1, 12):
        stream = masker.stream_unmasker()
        out = "".join(stream.feed(masked[i : i + size]) for i in range(0, len(masked), size)) + stream.flush()
        assert out == WECOM, size


def test_stream_does_not_hold_back_ordinary_text() -> None:
    masker = Masker()
    masker.mask(PHONE)
    stream = masker.stream_unmasker()
    assert stream.feed("请拨打 ⟦PHO") == "请拨打 "
    assert stream.feed("NE_1⟧ 联系") == f"{PHONE} 联系"
    assert stream.feed("⟦ 不是占位符的括号，") == "⟦ 不是占位符的括号，"


# --- property tests --------------------------------------------------------------------------------

_pieces = st.one_of(
    st.text(alphabet="0123456789 -+Xx@.abcz", max_size=6),
    st.text(alphabet="王建国张伟客户电话，。⟦⟧_ABCENOPH", max_size=6),
    st.sampled_from([PHONE, PHONE_SPACED, EMAIL, ID_CARD, BANK_CARD, LANDLINE, "⟦PHONE_1⟧", "⟦NAME_2⟧", *NAMES]),
)
_texts = st.lists(_pieces, max_size=12).map("".join)


@settings(max_examples=300, deadline=None)
@given(text=_texts, names=st.lists(st.sampled_from(["王建国", "张伟", "建国", "客户"]), max_size=3))
def test_mask_unmask_round_trip(text: str, names: list[str]) -> None:
    masker = Masker(names)
    masked = masker.mask(text)
    assert masker.unmask(masked) == text


_SECRET_VALUES = [PHONE, PHONE_SPACED, EMAIL, ID_CARD, BANK_CARD, LANDLINE, *NAMES]


@settings(max_examples=200, deadline=None)
@given(
    parts=st.lists(
        st.sampled_from([*_SECRET_VALUES, "客户", "合同已寄出", "E-204", "LC-3015", "2026-11-04"]), max_size=8
    )
)
def test_values_between_separators_never_survive_masking(parts: list[str]) -> None:
    text = "，".join(parts)
    masked = Masker(NAMES).mask(text)
    for part in parts:
        if part in _SECRET_VALUES:
            assert part not in masked


@settings(max_examples=200, deadline=None)
@given(text=_texts, cuts=st.lists(st.integers(min_value=1, max_value=7), min_size=1, max_size=40))
def test_streamed_unmask_equals_whole_unmask(text: str, cuts: list[int]) -> None:
    masker = Masker(NAMES)
    masked = masker.mask(text)
    stream, out, pos, i = masker.stream_unmasker(), [], 0, 0
    while pos < len(masked):
        size = cuts[i % len(cuts)]
        out.append(stream.feed(masked[pos : pos + size]))
        pos, i = pos + size, i + 1
    out.append(stream.flush())
    assert "".join(out) == text


# --- through the gateway: nothing masked reaches the wire --------------------------------------------


def _wecom_prompt():  # type: ignore[no-untyped-def]
    return (
        Registry.load()
        .get("reply_suggestion", version=1)
        .render(
            {
                "conversation": [{"role": "customer", "text": WECOM}],
                "ticket_facts": [{"id": "ticket:4021", "label": "联系人", "text": f"王建国 {PHONE} {EMAIL}"}],
                "customer_name": "王建国",
            }
        )
    )


def test_gateway_sends_only_placeholders_and_restores_the_answer(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.echo()
    p = _wecom_prompt()
    result = Gateway.from_settings(fake_openai.settings()).run(p, names=NAMES)

    wire = fake_openai.all_request_text()
    for secret in [*SECRETS, "13812345678", "wang.jianguo"]:
        assert secret not in wire, f"{secret} reached the model"
    assert "⟦PHONE_1⟧" in fake_openai.chat_requests()[0].body["messages"][1]["content"]
    # The fake echoes the user message back: after unmasking the user sees the real values again.
    assert result.text == p.messages[1]["content"]
    assert result.masked["PHONE"] == 2 and result.masked["NAME"] == 2


def test_gateway_streaming_restores_placeholders_split_across_chunks(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.echo(chunk_size=3)
    p = _wecom_prompt()
    stream = Gateway.from_settings(fake_openai.settings()).stream(p, names=NAMES)
    text = "".join(stream)
    assert text == p.messages[1]["content"]
    for secret in SECRETS:
        assert secret not in fake_openai.all_request_text()


def test_names_are_sent_when_name_masking_is_off(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.echo()
    Gateway.from_settings(fake_openai.settings(mask_contact_names=False)).run(_wecom_prompt(), names=NAMES)
    wire = fake_openai.all_request_text()
    assert "王建国" in wire  # the setting is honoured …
    assert PHONE not in wire and EMAIL not in wire  # … and numbers are masked regardless
