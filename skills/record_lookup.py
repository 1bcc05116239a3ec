"""record_lookup: "我名下有哪些商机" / "my deals closing this month" / "华东重工的联系人" → the exact records.

Words → object type and filters (``skills/record_filters.py``, on the shared ``lookup_words``) → one
query through ``ctx.records`` (the asker's permission predicate is in its WHERE; account sub-selects
are filtered the same way). Rows name records — the customer's and owner's names beside their ids —
and leave through ``records.masked`` (field-level security). A request with words the parser did not
understand runs no query (with a model configured, the model proposes filters first, validated against
the same vocabulary); the answer says what it did not understand instead of listing more than asked.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement

from copilot.core.bounds import query_text
from copilot.crm.models import Account, Activity, Contact, Lead, Opportunity, Product
from copilot.crm.repository import Records
from retrievers.facts import Fact
from skills.base import SkillContext, SkillRequest, SkillResult
from skills.compose import append_note, compose, result_from
from skills.lookup_names import RecordNames, not_understood_note, team_of_someone_else
from skills.lookup_words import ago, day_bounds, vocab
from skills.next_best_action import resolve_today
from skills.record_filters import OBJECT_TYPES, RecordQuery, parse
from skills.ticket_lookup import resolve_now

SKILL = "record_lookup"
TEMPLATE = "record_lookup"
ROW_LIMIT = 500
SHOWN = 10
MODELS: dict[str, Any] = {
    "opportunity": Opportunity,
    "account": Account,
    "lead": Lead,
    "contact": Contact,
    "activity": Activity,
}
NOUN = {
    "zh": {"opportunity": "商机", "account": "客户", "lead": "线索", "contact": "联系人", "activity": "跟进记录"},
    "en": {
        "opportunity": "deals",
        "account": "accounts",
        "lead": "leads",
        "contact": "contacts",
        "activity": "activities",
    },
}
KIND_LABEL = {
    "zh": {"visit": "拜访", "call": "电话", "wecom": "企业微信", "email": "邮件", "note": "备注"},
    "en": {"visit": "visit", "call": "call", "wecom": "WeCom", "email": "email", "note": "note"},
}


class Resolver(RecordNames):
    def __init__(self, records: Records, page_account_id: int | None, page_opportunity_id: int | None) -> None:
        super().__init__(records)
        self.page_account_id, self.page_opportunity_id = page_account_id, page_opportunity_id

    def lead_sources(self) -> list[str]:
        return sorted({str(c) for (c,) in self.records.rows("lead", Lead.source) if c})

    def competitors(self) -> list[str]:
        rows = self.records.rows("opportunity", Opportunity.competitor)
        return sorted({str(c) for (c,) in rows if c})


def _page(records: Records, request: SkillRequest) -> tuple[int | None, int | None]:
    page = request.context
    if page is None or page.object_type not in ("account", "opportunity", "contact", "activity", "ticket", "device"):
        return None, None
    if page.object_type == "account":
        return (page.object_id if records.find("account", page.object_id) is not None else None), None
    record = records.find(page.object_type, page.object_id)
    if record is None:
        return None, None
    opp = page.object_id if page.object_type == "opportunity" else getattr(record, "opportunity_id", None)
    return getattr(record, "account_id", None), opp


def _span(column: Any, span: dict[str, str], *, dates: bool = False) -> list[ColumnElement[bool]]:
    lo, hi = day_bounds(span)
    out: list[ColumnElement[bool]] = []
    if lo is not None:
        out.append(column >= (lo.date() if dates else lo))
    if hi is not None:
        out.append(column <= (hi.date() if dates else hi))
    return out


def _compare(column: Any, ops: dict[str, Any], cast: Any = Decimal) -> list[ColumnElement[bool]]:
    out: list[ColumnElement[bool]] = []
    for op, raw in ops.items():
        value = cast(raw)
        out.append({"gt": column > value, "ge": column >= value, "lt": column < value, "le": column <= value}[op])
    return out


def where_clauses(
    object_type: str, f: dict[str, Any], records: Records, today: dt.date, now: dt.datetime
) -> list[ColumnElement[bool]] | None:
    """The filters as SQL on ``object_type``; None when a filter does not apply to it (not understood)."""
    model = MODELS[object_type]
    v = vocab("record_lookup")
    out: list[ColumnElement[bool]] = []
    has = set(f)
    # "我的联系人 / decision makers at my accounts": a contact is someone at the owner's accounts.
    owner_col = Account.owner_id if object_type == "contact" else model.owner_id
    owned: list[ColumnElement[bool]] = []
    if f.get("owner") == "me":
        owned.append(owner_col == records.principal.user_id)
    elif f.get("owner") == "team":
        owned.append(owner_col.in_(sorted(records.principal.chain_ids)))
    if "owner_ids" in f:
        owned.append(owner_col.in_(f["owner_ids"]))
    if object_type == "contact":
        owned = [Contact.account_id.in_(records.visible_ids("account", c)) for c in owned]
    out += owned
    if "rank" in f and object_type not in v["rank_columns"][f["rank"]["by"]]:
        return None
    account_col = model.id if object_type == "account" else getattr(model, "account_id", None)
    if "account_ids" in f:
        if account_col is None:
            return None
        out.append(account_col.in_(f["account_ids"]))
    attrs = {
        "account_city": Account.city,
        "account_region": Account.region,
        "account_industry": Account.industry,
        "account_tier": Account.tier,
    }
    for key, column in attrs.items():
        if key in f:
            if account_col is None:
                return None
            out.append(account_col.in_(records.visible_ids("account", column.in_(f[key]))))
    if "opportunity_ids" in f:
        if object_type not in ("opportunity", "activity"):
            return None
        out.append((model.id if object_type == "opportunity" else Activity.opportunity_id).in_(f["opportunity_ids"]))
    if "public_pool" in f:
        if not hasattr(model, "in_public_pool"):
            return None
        out.append(model.in_public_pool.is_(True))
    opp_only = {
        "stage",
        "closing",
        "stalled",
        "close_date_passed",
        "competitor",
        "amount",
        "product_codes",
        "close_date",
        "probability",
    }
    if has & opp_only and object_type != "opportunity":
        return None
    if object_type == "opportunity":
        open_stages = v["open_stages"]
        if "stage" in f:
            out.append(Opportunity.stage.in_(f["stage"]))
        if f.get("closing") or f.get("stalled") or f.get("close_date_passed"):
            out.append(Opportunity.stage.in_(open_stages))
        if f.get("stalled"):
            days = v["stalled_days"] if f["stalled"] is True else f["stalled"]
            out.append(Opportunity.updated_at < ago(now, int(days)))
        if f.get("close_date_passed"):
            out.append(Opportunity.close_date < today)
        if f.get("competitor") is True:
            out.append(Opportunity.competitor.is_not(None))
        elif "competitor" in f:
            out.append(Opportunity.competitor.in_(f["competitor"]))
        if "amount" in f:
            out += _compare(Opportunity.amount, f["amount"])
        if "probability" in f:
            out += _compare(Opportunity.probability, f["probability"], int)
        if "product_codes" in f:
            out.append(Opportunity.product_id.in_(records.visible_ids("product", Product.code.in_(f["product_codes"]))))
        if "close_date" in f:
            out += _span(Opportunity.close_date, f["close_date"], dates=True)
    if ("kind" in f or "occurred_at" in f) and object_type != "activity":
        return None
    if "kind" in f:
        out.append(Activity.kind.in_(f["kind"]))
    if "occurred_at" in f:
        out += _span(Activity.occurred_at, f["occurred_at"])
    if ("lead_status" in f or "score" in f) and object_type != "lead":
        return None
    if "lead_source" in f:
        if object_type != "lead":
            return None
        out.append(Lead.source.in_(f["lead_source"]))
    if "deal_status" in f:
        if object_type != "account":
            return None
        out.append(Account.deal_status.in_(f["deal_status"]))
    if "lead_status" in f:
        out.append(Lead.status.in_(f["lead_status"]))
    if "score" in f:
        out += _compare(Lead.score, f["score"], int)
    if "decision_role" in f:
        if object_type != "contact":
            return None
        out.append(Contact.decision_role.in_(f["decision_role"]))
    if "created_at" in f:
        out += _span(model.created_at, f["created_at"])
    if "older_than_days" in f:
        # "商务谈判阶段超过30天": how long the deal has been in that stage.
        age_col: Any = Activity.occurred_at if object_type == "activity" else model.created_at
        if object_type == "opportunity" and "stage" in f:
            age_col = Opportunity.stage_entered_at
        out.append(age_col < ago(now, int(f["older_than_days"])))
    return out


ORDER: dict[str, Any] = {
    "opportunity": [Opportunity.close_date, Opportunity.id],
    "account": [Account.id],
    "lead": [Lead.score.desc(), Lead.id],
    "contact": [Contact.account_id, Contact.id],
    "activity": [Activity.occurred_at.desc(), Activity.id],
}


def _ranked(object_type: str, rank: dict[str, Any] | None) -> tuple[list[Any], int | None]:
    """The order and row cap a superlative asks for ("金额最大的五个" → amount desc, 5); else the default order."""
    if not rank:
        return ORDER[object_type], None
    model = MODELS[object_type]
    column = getattr(model, vocab("record_lookup")["rank_columns"][rank["by"]][object_type])
    key = column.desc() if rank["by"] in ("largest", "latest") else column.asc()
    return [key, model.id], rank.get("n")


def run(request: SkillRequest, ctx: SkillContext, *, today: dt.date | None = None) -> SkillResult:
    records = ctx.records
    locale = request.locale or ctx.locale
    ctx.locale = locale
    today = resolve_today(ctx, today)
    now = resolve_now(ctx, today)
    # A filter is a sentence, not an essay: a long message is parsed by its bounded head and tail.
    query = query_text(str(request.input.get("query") or request.message or ""), ctx.settings.max_query_chars)
    default = request.input.get("object_type") or None
    with ctx.timed("parse"):
        resolver = Resolver(records, *_page(records, request))
        rq = parse(query, today=today, resolver=resolver, default_object=default)
    team_of_someone_else(rq.filters, rq.not_understood, records.principal.user_id, locale)
    clauses = None
    if rq.object_type is None:
        rq.notes.append("no_object")
    elif not rq.not_understood:
        clauses = where_clauses(rq.object_type, rq.filters, records, today, now)
        if clauses is None:
            rq.notes.append("filter_not_applicable")
    items: list[Any] = []
    total = 0
    if clauses is not None and rq.object_type is not None:
        with ctx.timed("retrieval"):
            total = records.count(rq.object_type, *clauses)
            order, limit = _ranked(rq.object_type, rq.filters.get("rank"))
            total = min(total, limit or total)
            items = records.list(rq.object_type, *clauses, order_by=order, limit=min(limit or ROW_LIMIT, ROW_LIMIT))
    rows, facts = _rows(records, rq.object_type or "account", items, locale)
    shown = facts[:SHOWN]
    noun = NOUN[locale].get(rq.object_type or "", "记录" if locale == "zh" else "records")
    variables = {
        "query": query,
        "object": noun,
        "filters": describe(rq, locale),
        "rows": [{"id": fct.id, "title": fct.title, "detail": fct.text} for fct in shown],
        "total": total,
    }
    composed = compose(ctx, TEMPLATE, variables, shown)
    note = not_understood_note(rq.not_understood, locale, noun)
    if not note and "no_object" in rq.notes:
        note = (
            "没有看出要查哪类记录（商机、客户、线索、联系人或跟进记录），未执行查询。"
            if locale == "zh"
            else "Which records: deals, accounts, leads, contacts or activities? No query was run."
        )
    if not note and "filter_not_applicable" in rq.notes:
        note = (
            f"部分条件不适用于{noun}，未执行查询。"
            if locale == "zh"
            else f"Some of the conditions do not apply to {noun}; no query was run."
        )
    append_note(composed, note)
    return result_from(
        ctx,
        SKILL,
        composed,
        shown,
        data={
            "object_type": rq.object_type,
            "filters": rq.filters,
            "not_understood": rq.not_understood,
            "matched_accounts": [{"id": i, "name": n} for i, n in rq.matched_accounts],
            "matched_users": [{"id": i, "name": n} for i, n in rq.matched_users],
            "notes": rq.notes,
            "rows": rows,
            "total": total,
        },
    )


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    def one(v: Any) -> Any:
        if isinstance(v, dt.date | dt.datetime):
            return v.isoformat()
        if isinstance(v, Decimal):
            return float(v)
        return v

    return {k: one(v) for k, v in row.items()}


def _rows(records: Records, object_type: str, items: list[Any], locale: str) -> tuple[list[dict[str, Any]], list[Fact]]:
    account_ids = sorted({i for i in (getattr(x, "account_id", None) for x in items) if i is not None})
    visible = (
        records.rows("account", Account.id, Account.name, where=[Account.id.in_(account_ids)]) if account_ids else []
    )
    accounts = {int(i): str(n) for i, n in visible}
    owners = records.user_names(getattr(x, "owner_id", None) for x in items)
    rows: list[dict[str, Any]] = []
    facts: list[Fact] = []
    for x in items:
        row = records.masked(object_type, x)
        if object_type != "account":
            row["account_name"] = accounts.get(getattr(x, "account_id", None) or -1)
        row["owner_name"] = owners.get(x.owner_id) if x.owner_id else None
        row = _jsonable(row)
        rows.append(row)
        title, detail = _describe_row(object_type, row, locale)
        facts.append(
            Fact(
                id=f"crm:{object_type}:{x.id}",
                type="crm",
                title=title,
                text=detail,
                meta={"object_type": object_type, "fields": row},
            )
        )
    return rows, facts


def _describe_row(object_type: str, r: dict[str, Any], locale: str) -> tuple[str, str]:
    zh = locale == "zh"
    owner = r.get("owner_name") or ("公海" if zh else "pool")
    if object_type == "opportunity":
        amount = f"¥{r['amount']:,.0f}" if isinstance(r.get("amount"), int | float) else "***"
        return str(r.get("name")), " · ".join(
            [
                str(r.get("account_name") or "***"),
                str(r.get("stage")),
                amount,
                ("预计成交 " if zh else "close ") + str(r.get("close_date")),
                ("负责人 " if zh else "owner ") + owner,
            ]
        )
    if object_type == "account":
        return str(r.get("name")), " · ".join(
            [
                str(r.get("city") or ""),
                str(r.get("industry") or ""),
                str(r.get("tier") or ""),
                ("负责人 " if zh else "owner ") + owner,
            ]
        )
    if object_type == "lead":
        return f"{r.get('name')}（{r.get('company')}）" if zh else f"{r.get('name')} ({r.get('company')})", " · ".join(
            [
                str(r.get("status")),
                ("评分 " if zh else "score ") + str(r.get("score")),
                str(r.get("source") or ""),
                ("负责人 " if zh else "owner ") + owner,
            ]
        )
    if object_type == "contact":
        return str(r.get("name")), " · ".join(
            [str(r.get("account_name") or "***"), str(r.get("title") or ""), str(r.get("decision_role") or "")]
        )
    kind = KIND_LABEL[locale].get(str(r.get("kind")), str(r.get("kind")))
    parts = [
        kind,
        str(r.get("occurred_at", ""))[:16].replace("T", " "),
        str(r.get("account_name") or ""),
        ("负责人 " if zh else "owner ") + owner,
    ]
    said = _said(r.get("body"), zh)
    return str(r.get("subject")), " · ".join([*parts, said] if said else parts)


def _said(body: Any, zh: bool, limit: int = 160) -> str:
    """What the activity says, so "客户在企业微信里说了什么" is answered by the rows themselves."""
    text = " ".join(str(body or "").split())
    if not text:
        return ""
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return f"内容：{text}" if zh else f"said: {text}"


def describe(rq: RecordQuery, locale: str) -> dict[str, str]:
    """The understood filters in words and names (the canonical ones stay in data.filters)."""
    f, zh = rq.filters, locale == "zh"
    sep = "、" if zh else "/"
    out: dict[str, str] = {}
    if f.get("owner") in ("me", "team"):
        mine = {"me": ("我", "me"), "team": ("我的团队", "my team")}[f["owner"]]
        out["负责人" if zh else "owner"] = mine[0] if zh else mine[1]
    if "owner_ids" in f:
        out["负责人" if zh else "owner"] = sep.join(n for _, n in rq.matched_users)
    if "account_ids" in f:
        out["客户" if zh else "account"] = sep.join(n for _, n in rq.matched_accounts) or (
            "当前页面客户" if zh else "this page's account"
        )
    labels = {
        "account_city": ("城市", "city"),
        "account_region": ("区域", "region"),
        "account_industry": ("行业", "industry"),
        "account_tier": ("级别", "tier"),
        "stage": ("阶段", "stage"),
        "lead_status": ("线索状态", "lead status"),
        "decision_role": ("角色", "role"),
        "product_codes": ("产品", "product"),
    }
    for key, (zl, el) in labels.items():
        if key in f:
            out[zl if zh else el] = sep.join(str(x) for x in f[key])
    if "kind" in f:
        out["类型" if zh else "kind"] = sep.join(KIND_LABEL[locale][k] for k in f["kind"])
    flags = {
        "closing": ("待成交", "closing"),
        "stalled": ("停滞30天以上", "stalled 30+ days"),
        "close_date_passed": ("已过预计成交日", "past close date"),
        "public_pool": ("公海", "public pool"),
    }
    for key, (zl, el) in flags.items():
        if f.get(key):
            out[zl if zh else el] = "是" if zh else "yes"
    if "competitor" in f:
        out["竞争对手" if zh else "competitor"] = (
            ("有" if zh else "any") if f["competitor"] is True else sep.join(f["competitor"])
        )
    ops = {"gt": ">", "ge": "≥", "lt": "<", "le": "≤"}
    for key, zl, el in (("amount", "金额", "amount"), ("score", "评分", "score"), ("probability", "赢率%", "win %")):
        if key in f:
            out[zl if zh else el] = " ".join(f"{ops[o]}{val}" for o, val in f[key].items())
    for key, zl, el in (
        ("close_date", "预计成交日", "close date"),
        ("created_at", "创建时间", "created"),
        ("occurred_at", "时间", "when"),
    ):
        if key in f:
            out[zl if zh else el] = f"{f[key].get('from', '…')} ~ {f[key].get('to', '…')}"
    if "rank" in f:
        words = {"largest": ("最大", "largest"), "smallest": ("最小", "smallest"), "latest": ("最近", "latest")}
        zl, el = words.get(f["rank"]["by"], ("最早", "earliest"))
        n = f["rank"].get("n")
        out["排序" if zh else "order"] = (f"{zl}的{n}条" if n else zl) if zh else (f"{el} {n}" if n else el)
    if "older_than_days" in f:
        out["早于" if zh else "older than"] = f"{f['older_than_days']}天" if zh else f"{f['older_than_days']} days"
    return out


__all__ = ["OBJECT_TYPES", "run"]
