"""CRM record retrieval: the page's record and its related records, as short cited facts.

Every query goes through the asker's record repository (``copilot.crm.repository.Records``: the
permission predicate inside the WHERE) and every field through field-level security (``records.masked``),
so a fact can only say what the asker may see. There is no session here to query around it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from copilot.crm.models import (
    Account,
    AccountRevenue,
    Activity,
    Campaign,
    Contact,
    Contract,
    Device,
    DeviceServiceEvent,
    Opportunity,
    OpportunityStageHistory,
    Product,
    Receivable,
    Ticket,
    TicketMessage,
)
from copilot.crm.permissions import visible_dict
from copilot.crm.principal import Principal
from copilot.crm.repository import Records
from retrievers.facts import Fact

# Field labels per object type, in display order. A field absent here is never put in a fact.
LABELS: dict[str, dict[str, tuple[str, str]]] = {
    "account": {
        "name": ("客户", "Account"),
        "industry": ("行业", "Industry"),
        "tier": ("客户级别", "Tier"),
        "city": ("城市", "City"),
        "deal_status": ("成交状态", "Deal status"),
        "credit_limit": ("信用额度", "Credit limit"),
        "tags": ("标签", "Tags"),
        "in_public_pool": ("公海", "In public pool"),
    },
    "opportunity": {
        "name": ("商机", "Opportunity"),
        "stage": ("阶段", "Stage"),
        "amount": ("金额", "Amount"),
        "close_date": ("预计成交", "Close date"),
        "probability": ("赢率%", "Probability %"),
        "competitor": ("竞争对手", "Competitor"),
        "quantity": ("数量", "Quantity"),
        "dispatch_status": ("发货状态", "Dispatch"),
        "stage_entered_at": ("进入当前阶段", "In stage since"),
    },
    "contact": {
        "name": ("联系人", "Contact"),
        "title": ("职位", "Title"),
        "decision_role": ("决策链角色", "Decision role"),
        "mobile": ("手机", "Mobile"),
        "email": ("邮箱", "Email"),
        "wecom_id": ("企业微信", "WeCom"),
    },
    "activity": {
        "kind": ("类型", "Kind"),
        "occurred_at": ("时间", "When"),
        "subject": ("主题", "Subject"),
        "body": ("内容", "Body"),
    },
    "ticket": {
        "number": ("工单号", "Ticket"),
        "subject": ("主题", "Subject"),
        "priority": ("优先级", "Priority"),
        "status": ("状态", "Status"),
        "process_node": ("流程节点", "Process node"),
        "error_code": ("报警代码", "Error code"),
        "sla_due": ("SLA 截止", "SLA due"),
        "description": ("描述", "Description"),
    },
    "device": {
        "serial": ("序列号", "Serial"),
        "status": ("状态", "Status"),
        "install_date": ("安装日期", "Installed"),
        "warranty_end": ("保修到期", "Warranty ends"),
        "site": ("安装地点", "Site"),
    },
    "contract": {
        "number": ("合同号", "Contract"),
        "kind": ("类型", "Kind"),
        "amount": ("合同金额", "Amount"),
        "margin": ("毛利率%", "Margin %"),
        "signed_date": ("签订日期", "Signed"),
        "end_date": ("到期日", "Ends"),
        "status": ("状态", "Status"),
        "payment_terms": ("付款条件", "Payment terms"),
    },
    "receivable": {
        "milestone": ("节点", "Milestone"),
        "due_date": ("应收日期", "Due"),
        "amount": ("应收金额", "Amount"),
        "paid_amount": ("已收", "Paid"),
        "paid_date": ("回款日期", "Paid on"),
    },
    "campaign": {
        "name": ("活动", "Campaign"),
        "kind": ("类型", "Kind"),
        "start_date": ("开始", "Starts"),
        "end_date": ("结束", "Ends"),
        "budget": ("预算", "Budget"),
        "status": ("状态", "Status"),
        "description": ("说明", "Description"),
    },
    "product": {
        "code": ("型号", "Model"),
        "name": ("产品", "Product"),
        "spec": ("规格", "Spec"),
        "list_price": ("目录价", "List price"),
    },
}
TITLE_FIELD = {
    "account": "name",
    "opportunity": "name",
    "contact": "name",
    "activity": "subject",
    "ticket": "subject",
    "device": "serial",
    "contract": "number",
    "receivable": "milestone",
    "campaign": "name",
    "product": "name",
}
TYPE_NAMES = {
    "account": ("客户", "Account"),
    "opportunity": ("商机", "Opportunity"),
    "contact": ("联系人", "Contact"),
    "activity": ("跟进记录", "Activity"),
    "ticket": ("工单", "Ticket"),
    "device": ("设备", "Device"),
    "contract": ("合同", "Contract"),
    "receivable": ("回款计划", "Receivable"),
    "campaign": ("市场活动", "Campaign"),
    "product": ("产品", "Product"),
}
RECENT_ACTIVITIES = 5


VALUE_LABELS: dict[str, dict[str, dict[str, list[str]]]] = yaml.safe_load(
    (Path(__file__).with_name("value_labels.yaml")).read_text(encoding="utf-8")
)


def display_value(object_type: str, field: str, value: Any, locale: str = "zh") -> str:
    """A stored value as the reader's language names it (ticket status ``in_progress`` → 处理中 /
    In progress; stage 商务谈判 → Negotiation), falling back to the stored value."""
    names = VALUE_LABELS.get(object_type, {}).get(field, {}).get(str(value))
    if names and not isinstance(value, bool):
        return names[0 if locale == "zh" else 1]
    return format_value(value, locale)


def format_value(value: Any, locale: str = "zh") -> str:
    if isinstance(value, bool):
        return ("是" if value else "否") if locale == "zh" else ("Yes" if value else "No")
    if isinstance(value, Decimal):
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list):
        return "、".join(str(v) for v in value)
    return str(value)


def record_fact(principal: Principal, object_type: str, record: Any, locale: str = "zh") -> Fact:
    """One record as a fact, with only the fields the principal may see."""
    data = visible_dict(principal, object_type, record)
    lang = 0 if locale == "zh" else 1
    parts = []
    for key, labels in LABELS[object_type].items():
        value = data.get(key)
        if value is None or value == "" or value == []:
            continue
        parts.append(f"{labels[lang]}: {display_value(object_type, key, value, locale)}")
    type_name = TYPE_NAMES[object_type][lang]
    title = f"{type_name} {data.get(TITLE_FIELD[object_type], record.id)}"
    sep = "；" if locale == "zh" else "; "
    return Fact(
        id=f"crm:{object_type}:{record.id}",
        type="crm",
        title=title,
        text=sep.join(parts),
        meta={"object_type": object_type, "record_id": record.id, "fields": data},
    )


@dataclass
class RecordBundle:
    """The page's record and what surrounds it, all visible to the asker."""

    object_type: str
    record: Any
    main: Fact
    related: list[Fact] = field(default_factory=list)
    records: dict[str, list[Any]] = field(default_factory=dict)

    @property
    def facts(self) -> list[Fact]:
        return [self.main, *self.related]


class RecordRetriever:
    def __init__(self, records: Records, locale: str = "zh") -> None:
        self.records = records
        self.principal = records.principal
        self.locale = locale

    def _visible(
        self, object_type: str, model: Any, *where: Any, order: Any = None, limit: int | None = None
    ) -> list[Any]:
        # ``model`` names the table the clauses are on; the repository picks it from ``object_type``.
        return self.records.list(object_type, *where, order_by=order, limit=limit)

    def facts_for(self, object_type: str, records: Iterable[Any]) -> list[Fact]:
        return [record_fact(self.principal, object_type, r, self.locale) for r in records]

    def bundle(self, object_type: str, record_id: int) -> RecordBundle:
        """The record (404 if invisible) with its related records. Raises NotFound/BadRequest."""
        record = self.records.get(object_type, record_id)
        bundle = RecordBundle(object_type, record, record_fact(self.principal, object_type, record, self.locale))
        related = {
            "account": self._related_account,
            "opportunity": self._related_opportunity,
            "contact": self._related_contact,
            "ticket": self._related_ticket,
            "device": self._related_device,
            "campaign": self._related_campaign,
        }
        if object_type in related:  # other types (product, contract, ...) are shown on their own
            related[object_type](bundle)
        for kind, rows in bundle.records.items():
            bundle.related.extend(self.facts_for(kind, rows))
        return bundle

    # Related records per page type. Each list is already permission-filtered.
    def _account_children(self, bundle: RecordBundle, account_id: int) -> None:
        bundle.records.setdefault("contact", []).extend(
            self._visible("contact", Contact, Contact.account_id == account_id, order=Contact.id)
        )
        bundle.records.setdefault("ticket", []).extend(
            self._visible(
                "ticket",
                Ticket,
                Ticket.account_id == account_id,
                Ticket.status.in_(("new", "in_progress", "pending_customer")),
                order=Ticket.sla_due,
            )
        )
        contracts = self._visible("contract", Contract, Contract.account_id == account_id, order=Contract.signed_date)
        bundle.records.setdefault("contract", []).extend(contracts)
        if contracts:
            bundle.records.setdefault("receivable", []).extend(
                self._visible(
                    "receivable",
                    Receivable,
                    Receivable.contract_id.in_([c.id for c in contracts]),
                    order=Receivable.due_date,
                )
            )

    def _related_account(self, bundle: RecordBundle) -> None:
        account_id = bundle.record.id
        bundle.records["opportunity"] = self._visible(
            "opportunity", Opportunity, Opportunity.account_id == account_id, order=Opportunity.close_date
        )
        self._account_children(bundle, account_id)
        bundle.records["device"] = self._visible("device", Device, Device.account_id == account_id, order=Device.id)
        bundle.records["activity"] = self._visible(
            "activity",
            Activity,
            Activity.account_id == account_id,
            order=Activity.occurred_at.desc(),
            limit=RECENT_ACTIVITIES,
        )

    def _related_opportunity(self, bundle: RecordBundle) -> None:
        opp = bundle.record
        bundle.records["account"] = self._visible("account", Account, Account.id == opp.account_id)
        self._account_children(bundle, opp.account_id)
        bundle.records["activity"] = self._visible(
            "activity",
            Activity,
            Activity.opportunity_id == opp.id,
            order=Activity.occurred_at.desc(),
            limit=RECENT_ACTIVITIES,
        )
        if opp.product_id:
            bundle.records["product"] = self._visible("product", Product, Product.id == opp.product_id)

    def _related_contact(self, bundle: RecordBundle) -> None:
        contact = bundle.record
        bundle.records["account"] = self._visible("account", Account, Account.id == contact.account_id)
        bundle.records["activity"] = self._visible(
            "activity",
            Activity,
            Activity.contact_id == contact.id,
            order=Activity.occurred_at.desc(),
            limit=RECENT_ACTIVITIES,
        )

    def _related_ticket(self, bundle: RecordBundle) -> None:
        ticket = bundle.record
        bundle.records["account"] = self._visible("account", Account, Account.id == ticket.account_id)
        if ticket.device_id:
            devices = self._visible("device", Device, Device.id == ticket.device_id)
            bundle.records["device"] = devices
            if devices:
                bundle.records["product"] = self._visible("product", Product, Product.id == devices[0].product_id)
        if ticket.contact_id:
            bundle.records["contact"] = self._visible("contact", Contact, Contact.id == ticket.contact_id)

    def _related_device(self, bundle: RecordBundle) -> None:
        device = bundle.record
        bundle.records["account"] = self._visible("account", Account, Account.id == device.account_id)
        bundle.records["product"] = self._visible("product", Product, Product.id == device.product_id)
        bundle.records["ticket"] = self._visible(
            "ticket", Ticket, Ticket.device_id == device.id, order=Ticket.created_at.desc(), limit=10
        )

    def _related_campaign(self, bundle: RecordBundle) -> None:
        if bundle.record.product_id:
            bundle.records["product"] = self._visible("product", Product, Product.id == bundle.record.product_id)

    # Child rows that are not facts of their own but feed skills.
    def ticket_messages(self, ticket_id: int) -> list[TicketMessage]:
        return self._visible(
            "ticket_message", TicketMessage, TicketMessage.ticket_id == ticket_id, order=TicketMessage.sent_at
        )

    def service_history(self, device_id: int) -> list[DeviceServiceEvent]:
        return self._visible(
            "device_service_event",
            DeviceServiceEvent,
            DeviceServiceEvent.device_id == device_id,
            order=DeviceServiceEvent.occurred_at,
        )

    def stage_history(self, opportunity_id: int) -> list[OpportunityStageHistory]:
        return self._visible(
            "opportunity_stage_history",
            OpportunityStageHistory,
            OpportunityStageHistory.opportunity_id == opportunity_id,
            order=OpportunityStageHistory.changed_at,
        )

    def revenue(self, account_id: int, months: int = 6) -> list[AccountRevenue]:
        rows = self._visible(
            "account_revenue",
            AccountRevenue,
            AccountRevenue.account_id == account_id,
            order=AccountRevenue.month.desc(),
            limit=months,
        )
        return list(reversed(rows))

    def campaign(self, campaign_id: int) -> Campaign:
        return self.records.get("campaign", campaign_id)  # type: ignore[no-any-return]

    def user_name(self, user_id: int | None) -> str | None:
        return self.records.user_name(user_id)
