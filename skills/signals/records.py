"""Load the records the signal rules look at — only what the asker may read, already FLS-masked.

Every query goes through the asker's record repository (``Records``: the permission predicate is in
its WHERE), and every row leaves this module as ``records.masked`` (fields hidden from the asker's roles
removed). The rules therefore cannot put a
hidden value into a reason, a draft or a score, even by mistake. Each loaded row is also kept as a
``Fact`` under its evidence id, so citations can only name records that were really retrieved.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, or_

from copilot.crm.models import (
    Account,
    AccountRevenue,
    Activity,
    Contact,
    Contract,
    Device,
    Opportunity,
    Product,
    Receivable,
    Ticket,
)
from copilot.crm.repository import Records
from retrievers.facts import Fact
from skills.signals.config import SignalConfig

Row = dict[str, Any]


def evidence_id(object_type: str, record_id: Any) -> str:
    return f"crm:{object_type}:{record_id}"


@dataclass
class RecordSet:
    """The visible, masked neighbourhood of a set of deals and accounts."""

    today: dt.date
    deals: dict[int, Row] = field(default_factory=dict)  # the opportunities under consideration
    accounts: dict[int, Row] = field(default_factory=dict)  # visible accounts among the focus ones
    focus_account_ids: set[int] = field(default_factory=set)
    contacts: dict[int, list[Row]] = field(default_factory=lambda: defaultdict(list))  # by account
    activities: list[Row] = field(default_factory=list)  # recent ones, newest first
    last_activity_at: dict[int, dt.datetime] = field(default_factory=dict)  # by opportunity
    contracts: dict[int, Row] = field(default_factory=dict)
    receivables: list[Row] = field(default_factory=list)
    revenues: dict[int, dict[dt.date, Row]] = field(default_factory=lambda: defaultdict(dict))  # account → month
    tickets: list[Row] = field(default_factory=list)
    ticket_products: dict[int, int] = field(default_factory=dict)  # ticket id → product of its device
    devices: list[Row] = field(default_factory=list)
    products: dict[int, Row] = field(default_factory=dict)
    user_names: dict[int, str] = field(default_factory=dict)
    facts: dict[str, Fact] = field(default_factory=dict)

    def account_name(self, account_id: int | None) -> str | None:
        row = self.accounts.get(account_id) if account_id is not None else None
        return row.get("name") if row else None

    def deals_of(self, account_id: int | None) -> list[Row]:
        return [d for d in self.deals.values() if d.get("account_id") == account_id]


def _remember(rs: RecordSet, object_type: str, row: Row, title: str, keys: tuple[str, ...]) -> None:
    text = "; ".join(f"{k}: {row[k]}" for k in keys if row.get(k) not in (None, ""))
    fid = evidence_id(object_type, row["id"])
    rs.facts[fid] = Fact(id=fid, type="crm", title=title, text=text, meta={"object_type": object_type})


def _end_of(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min)


def load_records(
    records: Records,
    cfg: SignalConfig,
    today: dt.date,
    deals: list[Opportunity],
    account_ids: set[int],
) -> RecordSet:
    """``deals`` must already have been read through ``records``; ``account_ids`` are the accounts whose
    account-wide signals count (each is re-checked here)."""
    rs = RecordSet(today=today)
    for opp in deals:
        row = records.masked("opportunity", opp)
        rs.deals[opp.id] = row
        _remember(
            rs,
            "opportunity",
            row,
            str(row.get("name") or f"#{opp.id}"),
            ("stage", "amount", "close_date", "probability", "competitor", "dispatch_status"),
        )
    rs.focus_account_ids = set(account_ids)
    opp_ids = sorted(rs.deals)
    acc_ids = sorted(account_ids)
    horizon = _end_of(today)

    for acc in records.list("account", Account.id.in_(acc_ids)):
        row = records.masked("account", acc)
        rs.accounts[acc.id] = row
        _remember(rs, "account", row, str(row.get("name") or f"#{acc.id}"), ("industry", "tier", "city"))

    for c in records.list("contact", Contact.account_id.in_(acc_ids), order_by=Contact.id):
        row = records.masked("contact", c)
        rs.contacts[c.account_id].append(row)
        _remember(rs, "contact", row, str(row.get("name") or f"#{c.id}"), ("title", "decision_role"))

    since = dt.datetime.combine(today - dt.timedelta(days=cfg.recent_activity_window_days), dt.time.min)
    related = or_(Activity.opportunity_id.in_(opp_ids), Activity.account_id.in_(acc_ids))
    recent = records.list(
        "activity",
        related,
        Activity.occurred_at >= since,
        Activity.occurred_at < horizon,
        order_by=[Activity.occurred_at.desc(), Activity.id.desc()],
    )
    for a in recent:
        row = records.masked("activity", a)
        rs.activities.append(row)
        when = a.occurred_at.date().isoformat()
        _remember(rs, "activity", row, f"{row.get('subject') or a.kind} ({when})", ("kind", "occurred_at", "body"))
    # The last visible activity per deal, however old (the window above bounds only the text scan).
    last_rows = records.rows(
        "activity",
        Activity.opportunity_id,
        func.max(Activity.occurred_at),
        where=[Activity.opportunity_id.in_(opp_ids), Activity.occurred_at < horizon],
        group_by=[Activity.opportunity_id],
    )
    for opp_id, last in last_rows:
        if opp_id is not None and last is not None:
            rs.last_activity_at[opp_id] = last

    for k in records.list("contract", Contract.account_id.in_(acc_ids), order_by=Contract.id):
        row = records.masked("contract", k)
        rs.contracts[k.id] = row
        _remember(
            rs,
            "contract",
            row,
            str(row.get("number") or f"#{k.id}"),
            ("kind", "amount", "start_date", "end_date", "status"),
        )
    receivables = records.list(
        "receivable", Receivable.contract_id.in_(sorted(rs.contracts)), order_by=[Receivable.due_date, Receivable.id]
    )
    for r in receivables:
        row = records.masked("receivable", r)
        rs.receivables.append(row)
        number = rs.contracts.get(r.contract_id, {}).get("number") or f"#{r.contract_id}"
        _remember(
            rs,
            "receivable",
            row,
            f"{number} #{r.seq} {row.get('milestone') or ''}".strip(),
            ("due_date", "amount", "paid_amount", "paid_date"),
        )

    first_month = (today.replace(day=1) - dt.timedelta(days=155)).replace(day=1)  # five months back
    revenues = records.list(
        "account_revenue", AccountRevenue.account_id.in_(acc_ids), AccountRevenue.month >= first_month
    )
    for rev in revenues:
        row = records.masked("account_revenue", rev)
        rs.revenues[rev.account_id][rev.month.replace(day=1)] = row
        name = rs.account_name(rev.account_id) or f"#{rev.account_id}"
        _remember(rs, "account_revenue", row, f"{name} {rev.month:%Y-%m}", ("month", "amount"))

    tickets = records.list(
        "ticket",
        Ticket.account_id.in_(acc_ids),
        Ticket.status.in_(cfg.open_ticket_statuses),
        Ticket.priority.in_(sorted(cfg.ticket_priorities)),
        order_by=[Ticket.sla_due, Ticket.id],
    )
    for t in tickets:
        row = records.masked("ticket", t)
        rs.tickets.append(row)
        _remember(
            rs,
            "ticket",
            row,
            f"{row.get('number') or t.id} {row.get('subject') or ''}".strip(),
            ("priority", "status", "process_node", "sla_due"),
        )

    devices = records.list(
        "device",
        Device.account_id.in_(acc_ids),
        Device.warranty_end >= today,
        Device.warranty_end <= today + dt.timedelta(days=cfg.warranty_ending_days),
        order_by=[Device.warranty_end, Device.id],
    )
    for d in devices:
        row = records.masked("device", d)
        rs.devices.append(row)
        _remember(rs, "device", row, str(row.get("serial") or f"#{d.id}"), ("status", "warranty_end", "site"))
    product_ids = {d.get("product_id") for d in rs.devices} | {o.get("product_id") for o in rs.deals.values()}
    product_ids.discard(None)
    if product_ids:
        for p in records.list("product", Product.id.in_(sorted(product_ids))):
            rs.products[p.id] = records.masked("product", p)

    # Colleagues' display names (ticket assignees, deal owners) for internal @ requests; users are
    # not a governed object type, only their display name is used.
    user_ids = {t.get("assignee_id") for t in rs.tickets} | {o.get("owner_id") for o in rs.deals.values()}
    user_ids.discard(None)
    rs.user_names.update(records.user_names(user_ids))
    return rs
