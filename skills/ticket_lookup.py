"""ticket_lookup: plain words → filters (skills/ticket_filters.py) → one permission-filtered query.

The query always goes through the asker's record repository (``ctx.records``: the permission predicate
is in its WHERE), built from SQLAlchemy expressions with bound parameters — never SQL text. Customer
names, serials and ticket numbers are resolved only among records the asker may read, and rows leave
as ``records.masked``.
The answer shows the filters understood and the words not understood.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_

from copilot.crm.models import Account, Device, Opportunity, Product, Ticket
from copilot.crm.repository import Records
from retrievers.facts import Fact
from skills.base import SkillContext, SkillRequest, SkillResult
from skills.compose import compose, result_from
from skills.next_best_action import resolve_today
from skills.ticket_filters import OPEN, ParsedQuery, parse

SKILL = "ticket_lookup"
TEMPLATE = "ticket_lookup"
ROW_LIMIT = 20  # rows returned in data
SHOWN = 10  # rows written into the answer
ACCOUNT_MATCH_LIMIT = 20
BUSINESS_CLOSE = dt.time(18, 0)

STATUS_LABEL = {
    "zh": {
        "new": "待处理",
        "in_progress": "处理中",
        "pending_customer": "待客户确认",
        "resolved": "已解决",
        "closed": "已关闭",
    },
    "en": {
        "new": "new",
        "in_progress": "in progress",
        "pending_customer": "pending customer",
        "resolved": "resolved",
        "closed": "closed",
    },
}
PRIORITY_LABEL = {
    "zh": {"low": "低", "medium": "中", "high": "高", "urgent": "紧急"},
    "en": {"low": "low", "medium": "medium", "high": "high", "urgent": "urgent"},
}
PRIORITY_RANK = {"urgent": 0, "high": 1, "medium": 2, "low": 3}


class DbResolver:
    """Names → ids, among what the asker may read (every lookup goes through the record repository)."""

    def __init__(self, records: Records, page_account_id: int | None) -> None:
        self.records, self.page_account_id = records, page_account_id

    def accounts(self, fragment: str) -> list[tuple[int, str]]:
        found = self.records.rows(
            "account",
            Account.id,
            Account.name,
            where=[Account.name.contains(fragment, autoescape=True)],
            order_by=Account.id,
            limit=ACCOUNT_MATCH_LIMIT,
        )
        return [(int(i), str(n)) for i, n in found]

    def product_codes(self) -> list[str]:
        return [str(code) for (code,) in self.records.rows("product", Product.code)]

    def ticket_number(self, token: str) -> str | None:
        found = self.records.rows("ticket", Ticket.number, where=[func.upper(Ticket.number) == token.upper()], limit=1)
        return str(found[0][0]) if found else None

    def device_serial(self, token: str) -> str | None:
        found = self.records.rows("device", Device.serial, where=[func.upper(Device.serial) == token.upper()], limit=1)
        return str(found[0][0]) if found else None


def page_account_id(records: Records, request: SkillRequest) -> int | None:
    """The customer of the page the asker is on (account, ticket, opportunity, device), if visible."""
    ctx = request.context
    if ctx is None:
        return None
    models: dict[str, Any] = {"account": Account, "ticket": Ticket, "opportunity": Opportunity, "device": Device}
    model = models.get(ctx.object_type)
    if model is None:
        return None
    column = model.id if model is Account else model.account_id
    found = records.rows(ctx.object_type, column, where=[model.id == ctx.object_id], limit=1)
    return int(found[0][0]) if found and found[0][0] is not None else None


def resolve_now(ctx: SkillContext, today: dt.date) -> dt.datetime:
    """SLA clock. A pinned business day (the demo's) is read at its close of business, 18:00."""
    if today == ctx.clock.now().date():
        return ctx.clock.now()
    return dt.datetime.combine(today, BUSINESS_CLOSE)


def breached_clause(now: dt.datetime) -> ColumnElement[bool]:
    """Open past its SLA, or resolved after it."""
    return or_(
        and_(Ticket.resolved_at.is_(None), Ticket.status.in_(OPEN), Ticket.sla_due < now),
        and_(Ticket.resolved_at.is_not(None), Ticket.resolved_at > Ticket.sla_due),
    )


def where_clauses(filters: dict[str, Any], records: Records, now: dt.datetime) -> list[ColumnElement[bool]]:
    """The understood filters as SQL expressions (bound parameters only); ``records`` adds the permission
    predicate to the query itself, and the device sub-selects are filtered the same way."""
    principal = records.principal
    clauses: list[ColumnElement[bool]] = []
    if "status" in filters:
        clauses.append(Ticket.status.in_(filters["status"]))
    if "priority" in filters:
        clauses.append(Ticket.priority.in_(filters["priority"]))
    if "process_node" in filters:
        clauses.append(Ticket.process_node.in_(filters["process_node"]))
    if "account_ids" in filters:
        clauses.append(Ticket.account_id.in_(filters["account_ids"]))
    if "numbers" in filters:
        clauses.append(Ticket.number.in_(filters["numbers"]))
    if "device_serials" in filters:
        serials = filters["device_serials"]
        devices = records.visible_ids("device", Device.serial.in_(serials))
        clauses.append(Ticket.device_id.in_(devices))
    if "product_codes" in filters:
        products = records.visible_ids("product", Product.code.in_(filters["product_codes"]))
        devices = records.visible_ids("device", Device.product_id.in_(products))
        clauses.append(Ticket.device_id.in_(devices))
    if filters.get("assignee") == "me":
        clauses.append(Ticket.assignee_id == principal.user_id)
    elif filters.get("assignee") == "unassigned":
        clauses.append(Ticket.assignee_id.is_(None))
    created = filters.get("created") or {}
    if "from" in created:
        clauses.append(Ticket.created_at >= dt.datetime.combine(dt.date.fromisoformat(created["from"]), dt.time.min))
    if "to" in created:
        end = dt.date.fromisoformat(created["to"]) + dt.timedelta(days=1)
        clauses.append(Ticket.created_at < dt.datetime.combine(end, dt.time.min))
    if filters.get("sla_breached"):
        clauses.append(breached_clause(now))
    return clauses


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, dt.date | dt.datetime) else v) for k, v in row.items()}


def run(
    request: SkillRequest,
    ctx: SkillContext,
    *,
    today: dt.date | None = None,
    now: dt.datetime | None = None,
) -> SkillResult:
    records = ctx.records
    locale = request.locale or ctx.locale
    ctx.locale = locale
    today = resolve_today(ctx, today)
    now = now or resolve_now(ctx, today)
    query = str(request.input.get("query") or request.message or "").strip()

    with ctx.timed("parse"):
        resolver = DbResolver(records, page_account_id(records, request))
        pq = parse(query, today=today, resolver=resolver)
    clauses = where_clauses(pq.filters, records, now)
    rank = case(PRIORITY_RANK, value=Ticket.priority, else_=9)
    with ctx.timed("retrieval"):
        total = records.count("ticket", *clauses)
        tickets = records.list("ticket", *clauses, order_by=[rank, Ticket.sla_due, Ticket.id], limit=ROW_LIMIT)
    rows, facts = _rows(records, tickets, now, locale)
    shown = facts[:SHOWN]
    variables = {
        "query": query,
        "filters": describe_filters(pq, locale),
        "rows": [_template_row(r, locale) for r in rows[:SHOWN]],
        "total": total,
    }
    composed = compose(ctx, TEMPLATE, variables, shown)
    if pq.not_understood:
        words = "、".join(pq.not_understood) if locale == "zh" else ", ".join(pq.not_understood)
        note = (
            f"没有理解：{words}（未用于筛选）" if locale == "zh" else f"Not understood: {words} (not used as filters)"
        )
        # Appended after the text as written (not rstripped), so a streamed answer stays a prefix of the
        # final one and the note simply arrives as its last piece.
        sep = "" if composed.text.endswith("\n") else "\n"
        composed.text = f"{composed.text}{sep}{note}"
    return result_from(
        ctx,
        SKILL,
        composed,
        shown,
        data={
            "filters": pq.filters,
            "not_understood": pq.not_understood,
            "matched_accounts": [{"id": i, "name": n} for i, n in pq.matched_accounts],
            "rows": [_jsonable(r) for r in rows],
            "total": total,
        },
    )


def _rows(
    records: Records, tickets: list[Ticket], now: dt.datetime, locale: str
) -> tuple[list[dict[str, Any]], list[Fact]]:
    account_ids = sorted({t.account_id for t in tickets})
    visible_accounts = records.rows("account", Account.id, Account.name, where=[Account.id.in_(account_ids)])
    names = {int(i): str(n) for i, n in visible_accounts} if account_ids else {}
    users = records.user_names(t.assignee_id for t in tickets if t.assignee_id)
    rows: list[dict[str, Any]] = []
    facts: list[Fact] = []
    for t in tickets:
        row = records.masked("ticket", t)
        # Derived display fields, only from what is visible: the customer's name when the account is.
        row["account_name"] = names.get(t.account_id)
        row["assignee_name"] = users.get(t.assignee_id) if "assignee_id" in row and t.assignee_id else None
        if "sla_due" in row:
            row["sla_breached"] = (t.resolved_at is None and t.status in OPEN and t.sla_due < now) or (
                t.resolved_at is not None and t.resolved_at > t.sla_due
            )
        rows.append(row)
        fid = f"crm:ticket:{t.id}"
        title = f"{row.get('number', t.id)} {row.get('subject', '')}".strip()
        facts.append(
            Fact(
                id=fid,
                type="crm",
                title=title,
                text=_status_text(row, locale),
                meta={"object_type": "ticket", "fields": _jsonable(row)},
            )
        )
    return rows, facts


def _status_text(row: dict[str, Any], locale: str) -> str:
    parts = [STATUS_LABEL[locale].get(str(row.get("status")), str(row.get("status", "***")))]
    if row.get("process_node"):
        parts.append(str(row["process_node"]))
    sla = row.get("sla_due")
    if isinstance(sla, dt.datetime):
        flag = ("（已超时）" if locale == "zh" else " (breached)") if row.get("sla_breached") else ""
        parts.append(f"SLA {sla:%Y-%m-%d %H:%M}{flag}")
    return " · ".join(parts)


def _template_row(row: dict[str, Any], locale: str) -> dict[str, Any]:
    updated = row.get("updated_at")
    return {
        "id": f"crm:ticket:{row['id']}",
        "title": f"{row.get('number', row['id'])} {row.get('subject', '')}".strip(),
        "status": _status_text(row, locale),
        "priority": PRIORITY_LABEL[locale].get(str(row.get("priority")), "***"),
        "account": row.get("account_name") or "***",
        "updated": f"{updated:%Y-%m-%d}" if isinstance(updated, dt.datetime) else "***",
    }


def describe_filters(pq: ParsedQuery, locale: str) -> dict[str, str]:
    """The understood filters in words, for the answer (the canonical ones stay in data.filters)."""
    f, zh = pq.filters, locale == "zh"
    out: dict[str, str] = {}
    sep = "、" if zh else "/"
    if "status" in f:
        out["状态" if zh else "status"] = sep.join(STATUS_LABEL[locale][s] for s in f["status"])
    if "priority" in f:
        out["优先级" if zh else "priority"] = sep.join(PRIORITY_LABEL[locale][p] for p in f["priority"])
    if "process_node" in f:
        out["节点" if zh else "node"] = sep.join(f["process_node"])
    if "account_ids" in f:
        names = [n for _, n in pq.matched_accounts] or [str(i) for i in f["account_ids"]]
        out["客户" if zh else "customer"] = sep.join(names) if names else ("（无匹配）" if zh else "(no match)")
    if "numbers" in f:
        out["工单号" if zh else "number"] = sep.join(f["numbers"])
    if "device_serials" in f:
        out["设备" if zh else "device"] = sep.join(f["device_serials"])
    if "product_codes" in f:
        out["型号" if zh else "model"] = sep.join(f["product_codes"])
    if "assignee" in f:
        me = {"me": "我" if zh else "me", "unassigned": "未分配" if zh else "unassigned"}
        out["处理人" if zh else "assignee"] = me[f["assignee"]]
    if "created" in f:
        c = f["created"]
        out["创建时间" if zh else "created"] = f"{c.get('from', '…')} ~ {c.get('to', '…')}"
    if f.get("sla_breached"):
        out["SLA"] = "已超时" if zh else "breached"
    return out
