"""ticket_lookup: plain words → filters (skills/ticket_filters.py) → one permission-filtered query.

The query always goes through the asker's record repository (``ctx.records``: the permission predicate
is in its WHERE), built from SQLAlchemy expressions with bound parameters — never SQL text. Customer,
colleague, product and device names are resolved only among records the asker may read, and rows
leave as ``records.masked`` with the customer's and assignee's names beside their ids.

Never wider than the words: when the parser leaves words it did not understand, no query runs — the
answer names those words and returns no rows. With a model configured, the model first proposes
filters in a JSON schema (``ticket_filters.proposal_schema``); only values that validate against the
same vocabulary and the asker's records are used (``validate_proposal``), and the answer says so.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_

from copilot.core.bounds import query_text
from copilot.crm.models import Account, Device, Opportunity, Product, Ticket
from copilot.crm.repository import Records
from retrievers.facts import Fact
from skills.base import SkillContext, SkillRequest, SkillResult
from skills.compose import append_note, compose, result_from
from skills.lookup_names import RecordNames, not_understood_note, propose_filters, team_of_someone_else
from skills.lookup_words import ago, common, day_bounds
from skills.next_best_action import resolve_today
from skills.ticket_filters import OPEN, ParsedQuery, parse, proposal_schema, validate_proposal

SKILL = "ticket_lookup"
TEMPLATE = "ticket_lookup"
ROW_LIMIT = 500  # rows returned in data: every match (the demo org has 132 tickets), bounded
SHOWN = 10  # rows written into the answer
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


class DbResolver(RecordNames):
    """Names → ids among what the asker may read, plus the ticket-only tokens (numbers, serials, codes)."""

    def __init__(
        self,
        records: Records,
        page_account_id: int | None,
        page_device_id: int | None = None,
        page_ticket_id: int | None = None,
    ) -> None:
        super().__init__(records)
        self.page_account_id, self.page_device_id = page_account_id, page_device_id
        self.page_ticket_id = page_ticket_id
        self._codes: list[str] | None = None

    def product_codes(self) -> list[str]:
        return [code for code, _n, _e, _l in self.products()]

    def ticket_number(self, token: str) -> str | None:
        found = self.records.rows("ticket", Ticket.number, where=[func.upper(Ticket.number) == token.upper()], limit=1)
        return str(found[0][0]) if found else None

    def device_serial(self, token: str) -> str | None:
        found = self.records.rows("device", Device.serial, where=[func.upper(Device.serial) == token.upper()], limit=1)
        return str(found[0][0]) if found else None

    def error_codes(self) -> list[str]:
        """Alarm codes that occur on tickets the asker may read (the vocabulary of codes is the data)."""
        if self._codes is None:
            rows = self.records.rows("ticket", Ticket.error_code, where=[Ticket.error_code.is_not(None)])
            self._codes = sorted({str(c) for (c,) in rows if c})
        return self._codes


def page_records(records: Records, request: SkillRequest) -> tuple[int | None, int | None]:
    """The customer and device of the page the asker is on (account, ticket, opportunity, device), if visible."""
    ctx = request.context
    if ctx is None:
        return None, None
    models: dict[str, Any] = {"account": Account, "ticket": Ticket, "opportunity": Opportunity, "device": Device}
    model = models.get(ctx.object_type)
    if model is None:
        return None, None
    column = model.id if model is Account else model.account_id
    found = records.rows(ctx.object_type, column, where=[model.id == ctx.object_id], limit=1)
    account = int(found[0][0]) if found and found[0][0] is not None else None
    device: int | None = None
    if model is Device and found:
        device = ctx.object_id
    elif model is Ticket:
        dev = records.rows("ticket", Ticket.device_id, where=[Ticket.id == ctx.object_id], limit=1)
        device = int(dev[0][0]) if dev and dev[0][0] is not None else None
    return account, device


def page_account_id(records: Records, request: SkillRequest) -> int | None:
    return page_records(records, request)[0]


def resolve_now(ctx: SkillContext, today: dt.date) -> dt.datetime:
    """SLA clock, from the clock port only (never the host's): its now on its own day; a day the clock pins
    (the demo's) or any other day asked for is read at close of business, 18:00, so answers replay."""
    now = ctx.clock.now()
    if today == now.date() and not ctx.clock.pinned:
        return now
    return dt.datetime.combine(today, BUSINESS_CLOSE)


def breached_clause(now: dt.datetime) -> ColumnElement[bool]:
    """Open past its SLA, or resolved after it."""
    return or_(
        and_(Ticket.resolved_at.is_(None), Ticket.status.in_(OPEN), Ticket.sla_due < now),
        and_(Ticket.resolved_at.is_not(None), Ticket.resolved_at > Ticket.sla_due),
    )


def _span(column: Any, span: dict[str, str]) -> list[ColumnElement[bool]]:
    lo, hi = day_bounds(span)
    out: list[ColumnElement[bool]] = []
    if lo is not None:
        out.append(column >= lo)
    if hi is not None:
        out.append(column <= hi)
    return out


def where_clauses(filters: dict[str, Any], records: Records, now: dt.datetime) -> list[ColumnElement[bool]]:
    """The understood filters as SQL expressions (bound parameters only); ``records`` adds the permission
    predicate to the query itself, and every sub-select (devices, accounts) is filtered the same way."""
    principal = records.principal
    clauses: list[ColumnElement[bool]] = []
    simple = {
        "status": Ticket.status,
        "priority": Ticket.priority,
        "process_node": Ticket.process_node,
        "account_ids": Ticket.account_id,
        "numbers": Ticket.number,
        "business_type": Ticket.business_type,
        "channel": Ticket.channel,
        "error_codes": Ticket.error_code,
        "device_ids": Ticket.device_id,
        "assignee_ids": Ticket.assignee_id,
    }
    for key, column in simple.items():
        if key in filters:
            clauses.append(column.in_(filters[key]))
    if "device_serials" in filters:
        clauses.append(
            Ticket.device_id.in_(records.visible_ids("device", Device.serial.in_(filters["device_serials"])))
        )
    if "product_codes" in filters or "product_lines" in filters:
        clauses.append(_product_clause(filters, records))
    account_attrs = {
        "account_city": Account.city,
        "account_region": Account.region,
        "account_industry": Account.industry,
        "account_tier": Account.tier,
    }
    for key, column in account_attrs.items():
        if key in filters:
            clauses.append(Ticket.account_id.in_(records.visible_ids("account", column.in_(filters[key]))))
    if filters.get("assignee") == "me":
        clauses.append(Ticket.assignee_id == principal.user_id)
    elif filters.get("assignee") == "team":
        clauses.append(Ticket.assignee_id.in_(sorted(principal.chain_ids)))
    elif filters.get("assignee") == "unassigned":
        clauses.append(Ticket.assignee_id.is_(None))
    if filters.get("account_owner") == "me":
        clauses.append(Ticket.account_id.in_(records.visible_ids("account", Account.owner_id == principal.user_id)))
    if "exclude_ids" in filters:
        clauses.append(Ticket.id.not_in(filters["exclude_ids"]))
    if "created" in filters:
        clauses += _span(Ticket.created_at, filters["created"])
    if "resolved" in filters:
        clauses += _span(Ticket.resolved_at, filters["resolved"])
    if "sla_due" in filters:
        # An SLA "due" in a period is a promise still to keep: open tickets only.
        clauses += [*_span(Ticket.sla_due, filters["sla_due"]), Ticket.status.in_(OPEN)]
    if "older_than_days" in filters:
        clauses.append(Ticket.created_at < ago(now, int(filters["older_than_days"])))
    if filters.get("sla_breached"):
        clauses.append(breached_clause(now))
    if filters.get("no_device"):
        clauses.append(Ticket.device_id.is_(None))
    return clauses


def _product_clause(filters: dict[str, Any], records: Records) -> ColumnElement[bool]:
    """Tickets on devices of these products; a product line that is never installed as a device (the
    SaaS platform: ``deviceless_lines`` in the vocabulary) has its tickets without a device."""
    conds = []
    if "product_codes" in filters:
        conds.append(Product.code.in_(filters["product_codes"]))
    if "product_lines" in filters:
        conds.append(Product.line.in_(filters["product_lines"]))
    found = records.rows("product", Product.id, Product.line, where=[or_(*conds)])
    products = [int(i) for i, _ in found]
    clause: ColumnElement[bool] = Ticket.device_id.in_(records.visible_ids("device", Device.product_id.in_(products)))
    if any(line in common().get("deviceless_lines", []) for _, line in found):
        clause = or_(clause, Ticket.device_id.is_(None))
    return clause


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
    # A filter is a sentence, not an essay: a long message is parsed by its bounded head and tail.
    query = query_text(str(request.input.get("query") or request.message or ""), ctx.settings.max_query_chars)

    with ctx.timed("parse"):
        page_ticket = request.context.object_id if request.context and request.context.object_type == "ticket" else None
        resolver = DbResolver(records, *page_records(records, request), page_ticket_id=page_ticket)
        pq = parse(query, today=today, resolver=resolver)
    team_of_someone_else(pq.filters, pq.not_understood, records.principal.user_id, locale, key="assignee")
    proposal = None
    if pq.not_understood:
        proposal = propose_filters(ctx, "ticket", query, pq.filters, pq.not_understood, proposal_schema(), today)
        if proposal is not None:
            extra, problems = validate_proposal(proposal, resolver)
            if extra and not problems:
                # Every word is now accounted for by filters that hold against our vocabulary.
                pq.filters.update(extra)
                pq.notes.append("model_proposed")
                pq.not_understood = []
            else:
                pq.notes += [f"model_rejected:{p}" for p in problems] or ["model_proposed_nothing"]
        elif not ctx.composer.is_offline:
            pq.notes.append("model_proposal_invalid")
    if pq.not_understood:
        # Never wider than the words: a word we did not understand means no rows, not all rows.
        total, tickets = 0, []
    else:
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
    note = not_understood_note(pq.not_understood, locale, "工单" if locale == "zh" else "tickets")
    if "model_proposed" in pq.notes:
        note = (
            "（部分条件由模型根据原话提出，已按词表校验）"
            if locale == "zh"
            else "(Some filters were proposed by the model from your words and checked against the vocabulary.)"
        )
    append_note(composed, note)
    return result_from(
        ctx,
        SKILL,
        composed,
        shown,
        data={
            "filters": pq.filters,
            "not_understood": pq.not_understood,
            "matched_accounts": [{"id": i, "name": n} for i, n in pq.matched_accounts],
            "matched_users": [{"id": i, "name": n} for i, n in pq.matched_users],
            "notes": pq.notes,
            "rows": [_jsonable(r) for r in rows],
            "total": total,
        },
    )


def _rows(
    records: Records, tickets: list[Ticket], now: dt.datetime, locale: str
) -> tuple[list[dict[str, Any]], list[Fact]]:
    account_ids = sorted({t.account_id for t in tickets})
    visible = (
        records.rows("account", Account.id, Account.name, where=[Account.id.in_(account_ids)]) if account_ids else []
    )
    names = {int(i): str(n) for i, n in visible}
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
    if row.get("assignee_name"):
        parts.append(("处理人 " if locale == "zh" else "assignee ") + str(row["assignee_name"]))
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


_LABELS = {
    "business_type": ("业务类型", "type"),
    "channel": ("渠道", "channel"),
    "error_codes": ("报警代码", "error code"),
    "account_city": ("客户城市", "city"),
    "account_region": ("客户区域", "region"),
    "account_industry": ("客户行业", "industry"),
    "account_tier": ("客户级别", "tier"),
    "product_codes": ("产品", "product"),
    "product_lines": ("产品线", "product line"),
    "numbers": ("工单号", "number"),
    "device_serials": ("设备", "device"),
}


def describe_filters(pq: ParsedQuery, locale: str) -> dict[str, str]:
    """The understood filters in words and names, for the answer (the canonical ones stay in data.filters)."""
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
        if len(names) < len(f["account_ids"]):
            names = ["当前页面客户" if zh else "this page's customer", *names]
        out["客户" if zh else "customer"] = sep.join(names) if names else ("（无匹配）" if zh else "(no match)")
    if "device_ids" in f:
        out["设备" if zh else "device"] = "当前页面设备" if zh else "this page's device"
    for key, (zh_label, en_label) in _LABELS.items():
        if key in f:
            out[zh_label if zh else en_label] = sep.join(str(v) for v in f[key])
    if "assignee" in f:
        me = {
            "me": "我" if zh else "me",
            "team": "我的团队" if zh else "my team",
            "unassigned": "未分配" if zh else "unassigned",
        }
        out["处理人" if zh else "assignee"] = me[f["assignee"]]
    if "assignee_ids" in f:
        out["处理人" if zh else "assignee"] = sep.join(n for _, n in pq.matched_users) or sep.join(
            str(i) for i in f["assignee_ids"]
        )
    for key, zh_label, en_label in (
        ("created", "创建时间", "created"),
        ("resolved", "解决时间", "resolved"),
        ("sla_due", "SLA到期", "SLA due"),
    ):
        if key in f:
            out[zh_label if zh else en_label] = f"{f[key].get('from', '…')} ~ {f[key].get('to', '…')}"
    if "older_than_days" in f:
        n = f["older_than_days"]
        out["已创建" if zh else "age"] = f"超过{n}天" if zh else f"more than {n} days"
    if f.get("sla_breached"):
        out["SLA"] = "已超时" if zh else "breached"
    if f.get("no_device"):
        out["设备" if zh else "device"] = "无" if zh else "none"
    if f.get("account_owner") == "me":
        out["客户负责人" if zh else "account owner"] = "我" if zh else "me"
    if "exclude_ids" in f:
        out["不含" if zh else "excluding"] = "当前页面工单" if zh else "this page's ticket"
    return out
