"""Stored codes and Chinese values read naturally in both languages: an English answer says
"In progress" and "Negotiation", a Chinese one says 处理中, never the raw code ``in_progress``."""

from __future__ import annotations

import datetime as dt

import pytest

from copilot.crm.models import Opportunity, Ticket
from copilot.crm.principal import Principal
from retrievers.crm_records import VALUE_LABELS, display_value, record_fact

ADMIN = Principal(user_id=1, username="admin", roles=frozenset({"admin"}))


def test_every_label_has_both_languages() -> None:
    for object_type, fields in VALUE_LABELS.items():
        for field, values in fields.items():
            for value, names in values.items():
                assert len(names) == 2 and all(n.strip() for n in names), (object_type, field, value)


@pytest.mark.parametrize(
    ("object_type", "field", "value", "zh", "en"),
    [
        ("ticket", "status", "in_progress", "处理中", "In progress"),
        ("ticket", "priority", "urgent", "紧急", "Urgent"),
        ("ticket", "process_node", "远程诊断", "远程诊断", "Remote diagnosis"),
        ("opportunity", "stage", "商务谈判", "商务谈判", "Negotiation"),
        ("account", "in_public_pool", True, "是", "Yes"),
        ("account", "name", "华东重工", "华东重工", "华东重工"),  # names are never translated
    ],
)
def test_display_value(object_type: str, field: str, value: object, zh: str, en: str) -> None:
    assert display_value(object_type, field, value, "zh") == zh
    assert display_value(object_type, field, value, "en") == en


def test_record_facts_use_the_readers_language() -> None:
    ticket = Ticket(
        id=7, number="GD1", subject="A-17 报警", priority="high", status="pending_customer",
        process_node="备件申请", sla_due=dt.datetime(2026, 11, 21, 9, 0),
    )
    en = record_fact(ADMIN, "ticket", ticket, "en").text
    zh = record_fact(ADMIN, "ticket", ticket, "zh").text
    assert "Status: Waiting for customer" in en and "Process node: Spare-part request" in en and "Priority: High" in en
    assert "状态: 待客户反馈" in zh and "优先级: 高" in zh
    assert "pending_customer" not in en + zh
    deal = Opportunity(id=3, name="LC-3015 两台", stage="方案报价")
    assert "Stage: Proposal and quote" in record_fact(ADMIN, "opportunity", deal, "en").text
