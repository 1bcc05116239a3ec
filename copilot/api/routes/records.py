"""``/v1/records``: CRM records as the CRM shows them to the caller, for the web app and host pages.

Everything is read through ``Records`` (the caller's read predicate in every query) and masked by
field-level security; a record the caller may not see is a 404, exactly like a missing one. Names of the
records a row points to (its account, its owner) come along, but only names the caller may read.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.encoders import jsonable_encoder
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import and_, or_, select

from copilot.api.deps import PrincipalDep, RuntimeDep, SessionDep
from copilot.core.bounds import MAX_ID
from copilot.core.clock import today
from copilot.core.errors import BadRequest, NotFound
from copilot.crm.models import CATALOG_TYPES, OWNED_TYPES, RecordTeamMember, User
from copilot.crm.permissions import hidden_fields, may_read_internal_notes, model_for
from copilot.crm.repository import Records

router = APIRouter(prefix="/v1/records", tags=["records"])

PAGE_TYPES = (*OWNED_TYPES, *CATALOG_TYPES)
# What a row is called on a page, by type (the first visible, non-empty column wins).
TITLE_FIELDS: dict[str, tuple[str, ...]] = {
    "account": ("name",), "contact": ("name",), "lead": ("name", "company"), "opportunity": ("name",),
    "activity": ("subject",), "device": ("serial",), "ticket": ("number",), "contract": ("number",),
    "campaign": ("name",), "task": ("subject",), "product": ("name",),
}  # fmt: skip
SUBTITLE_FIELDS: dict[str, tuple[str, ...]] = {"lead": ("company",), "ticket": ("subject",)}
# Columns ``?q=`` searches, by type.
SEARCH_FIELDS: dict[str, tuple[str, ...]] = {
    "account": ("name", "city", "industry"), "contact": ("name", "title"), "lead": ("name", "company"),
    "opportunity": ("name", "competitor"), "activity": ("subject", "body"), "device": ("serial", "site"),
    "ticket": ("number", "subject", "error_code"), "contract": ("number",), "campaign": ("name", "kind"),
    "task": ("subject",), "product": ("code", "name", "name_en"),
}  # fmt: skip
# Columns pointing at another record: its name is shown next to the id.
REFERENCES: dict[str, str] = {
    "account_id": "account", "opportunity_id": "opportunity", "contact_id": "contact", "device_id": "device",
    "product_id": "product", "contract_id": "contract", "ticket_id": "ticket", "campaign_id": "campaign",
}  # fmt: skip
USER_REFERENCES = ("owner_id", "assignee_id", "changed_by_id")
CLOSED_DEAL_STAGES = ("赢单", "输单")
CLOSED_TICKET_STATUSES = ("resolved", "closed")
RELATED_LIMIT = 50


class RecordOut(BaseModel):
    object_type: str
    id: int
    title: str = Field(description="what the record is called on a page")
    subtitle: str = ""
    fields: dict[str, Any] = Field(description="the columns the caller may see (hidden ones are absent)")
    hidden: list[str] = Field(default_factory=list, description="columns hidden from the caller (field security)")
    names: dict[str, str] = Field(
        default_factory=dict, description="display names of referenced records and people, by column"
    )
    url: str = Field(description="the web app's page for the record")


class RecordPage(BaseModel):
    object_type: str
    records: list[RecordOut]
    total: int
    limit: int
    offset: int


class RecordDetail(RecordOut):
    related: dict[str, list[RecordOut]] = Field(
        default_factory=dict, description="what the record page lists: activities, tasks, messages, contacts…"
    )
    team: list[dict[str, Any]] = Field(default_factory=list, description="the record's related team (协作者)")


def object_type_of(raw: str) -> str:
    """A URL's object type: singular (``opportunity``), plurals accepted (``opportunities``)."""
    name = raw.strip().lower()
    singular = name[:-3] + "y" if name.endswith("ies") else name[:-1] if name.endswith("s") else None
    for candidate in (name, singular):
        if candidate in PAGE_TYPES:
            return candidate
    raise NotFound(f"unknown object type {raw!r}; known: {', '.join(PAGE_TYPES)}", code="unknown_object_type")


class _Namer:
    """Names of referenced records, looked up once per type, through the caller's Records."""

    def __init__(self, records: Records) -> None:
        self.records = records

    def names(self, rows: list[tuple[str, dict[str, Any]]]) -> list[dict[str, str]]:
        wanted: dict[str, set[int]] = {}
        users: set[int] = set()
        for _, fields in rows:
            for column, kind in REFERENCES.items():
                if isinstance(fields.get(column), int):
                    wanted.setdefault(kind, set()).add(fields[column])
            users |= {fields[c] for c in USER_REFERENCES if isinstance(fields.get(c), int)}
        titles: dict[tuple[str, int], str] = {}
        for kind, ids in wanted.items():
            model: Any = model_for(kind)
            for row in self.records.list(kind, model.id.in_(sorted(ids)), limit=len(ids)):
                titles[(kind, row.id)] = title_of(kind, self.records.masked(kind, row))
        people = self.records.user_names(users)
        out = []
        for _, fields in rows:
            named: dict[str, str] = {}
            for column, kind in REFERENCES.items():
                value = fields.get(column)
                if isinstance(value, int) and (kind, value) in titles:
                    named[column] = titles[(kind, value)]
            for column in USER_REFERENCES:
                value = fields.get(column)
                if isinstance(value, int) and value in people:
                    named[column] = people[value]
            out.append(named)
        return out


def title_of(object_type: str, fields: dict[str, Any]) -> str:
    for column in TITLE_FIELDS.get(object_type, ()):
        if fields.get(column):
            return str(fields[column])
    return f"{object_type} #{fields.get('id')}"


def _out(records: Records, object_type: str, rows: list[Any]) -> list[RecordOut]:
    masked = [(object_type, records.masked(object_type, row)) for row in rows]
    hidden = sorted(hidden_fields(records.principal, object_type))
    named = _Namer(records).names(masked)
    out = []
    for (_, fields), names in zip(masked, named, strict=True):
        subtitle = next((str(fields[c]) for c in SUBTITLE_FIELDS.get(object_type, ()) if fields.get(c)), "")
        out.append(RecordOut(
            object_type=object_type, id=int(fields.get("id") or 0), title=title_of(object_type, fields),
            subtitle=subtitle, fields=jsonable_encoder(fields), hidden=hidden, names=names,
            url=f"/records/{object_type}/{fields.get('id')}",
        ))
    return out


def _visible_column(records: Records, object_type: str, column: str) -> Any | None:
    model: Any = model_for(object_type)
    if column in hidden_fields(records.principal, object_type) or column not in model.__table__.c:
        return None
    return getattr(model, column)


@router.get("/{object_type}", response_model=RecordPage)
def list_records(
    object_type: str,
    principal: PrincipalDep,
    session: SessionDep,
    runtime: RuntimeDep,
    mine: Annotated[bool, Query(description="only records I own (tickets: or am assigned)")] = False,
    q: Annotated[str | None, Query(max_length=200, description="words in the name, number or subject")] = None,
    closing: Annotated[
        str | None, Query(pattern="^(this_month|next_month|overdue)$", description="opportunities by close date")
    ] = None,
    open_only: Annotated[bool, Query(alias="open", description="open deals, tickets or tasks only")] = False,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> RecordPage:
    """The records of one type the caller may see, newest first (``?closing=``: by close date)."""
    kind = object_type_of(object_type)
    records = Records(session, principal)
    model: Any = model_for(kind)
    where: list[Any] = []
    if mine:
        if "owner_id" not in model.__table__.c:
            raise BadRequest(f"{kind} records have no owner: ?mine does not apply")
        mine_clause = model.owner_id == principal.user_id
        if kind == "ticket":
            mine_clause = or_(mine_clause, model.assignee_id == principal.user_id)
        where.append(mine_clause)
    if q and q.strip():
        columns = [c for c in (_visible_column(records, kind, n) for n in SEARCH_FIELDS.get(kind, ())) if c is not None]
        if columns:
            words = q.split()[:5]
            where.append(and_(*(or_(*(c.contains(w, autoescape=True) for c in columns)) for w in words)))
    order = [model.updated_at.desc(), model.id.desc()] if hasattr(model, "updated_at") else [model.id.asc()]
    if closing:
        if kind != "opportunity":
            raise BadRequest("?closing applies to opportunities")
        where += _closing(model, closing, today(runtime.settings))
        order = [model.close_date.asc(), model.id.asc()]
    if open_only:
        if kind == "opportunity":
            where.append(model.stage.not_in(CLOSED_DEAL_STAGES))
        elif kind == "ticket":
            where.append(model.status.not_in(CLOSED_TICKET_STATUSES))
        elif kind == "task":
            where.append(model.status == "open")
        else:
            raise BadRequest("?open applies to opportunities, tickets and tasks")
    total = records.count(kind, *where)
    rows = records.list(kind, *where, order_by=order, limit=limit, offset=offset)
    return RecordPage(object_type=kind, records=_out(records, kind, rows), total=total, limit=limit, offset=offset)


def _closing(model: Any, closing: str, day: dt.date) -> list[Any]:
    first = day.replace(day=1)
    following = (first + dt.timedelta(days=32)).replace(day=1)
    open_deal = model.stage.not_in(CLOSED_DEAL_STAGES)
    if closing == "this_month":
        return [open_deal, model.close_date >= first, model.close_date < following]
    if closing == "next_month":
        after = (following + dt.timedelta(days=32)).replace(day=1)
        return [open_deal, model.close_date >= following, model.close_date < after]
    return [open_deal, model.close_date < day]


@router.get("/{object_type}/{record_id}", response_model=RecordDetail)
def get_record(
    object_type: str,
    record_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    principal: PrincipalDep,
    session: SessionDep,
) -> RecordDetail:
    """One record as the caller may see it, with what its page lists; 404 when missing or not visible."""
    kind = object_type_of(object_type)
    records = Records(session, principal)
    row = records.get(kind, record_id)
    base = _out(records, kind, [row])[0]
    related: dict[str, list[RecordOut]] = {}
    for name, child, column, order in RELATED.get(kind, ()):
        child_model: Any = model_for(child)
        ordering = getattr(child_model, order)
        rows = records.list(child, getattr(child_model, column) == record_id,
                            order_by=[ordering.desc(), child_model.id.desc()], limit=RELATED_LIMIT)
        related[name] = _out(records, child, rows)
    if kind == "ticket":
        related["messages"] = _messages(records, record_id)
    team: list[dict[str, Any]] = []
    if kind in OWNED_TYPES:
        # The record is visible (checked above): so is who works on it with its owner.
        stmt = (select(User.id, User.username, User.display_name)
                .join(RecordTeamMember, RecordTeamMember.user_id == User.id)
                .where(RecordTeamMember.object_type == kind, RecordTeamMember.record_id == record_id)
                .order_by(User.id))
        team = [{"user_id": i, "username": u, "display_name": n} for i, u, n in session.execute(stmt)]
    return RecordDetail(**base.model_dump(), related=related, team=team)


class MessageRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    body: str = Field(min_length=1, max_length=20_000, description="the reply to the customer, as sent")


class Written(BaseModel):
    record: dict[str, Any] = Field(description='{"object_type": "ticket_message", "id": …}')


@router.post("/ticket/{record_id}/messages", status_code=201, response_model=Written)
def post_message(
    record_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    body: MessageRequest,
    principal: PrincipalDep,
    session: SessionDep,
    runtime: RuntimeDep,
) -> Written:
    """Post a reply the agent typed on a ticket they may change (a suggested one goes through its action's
    confirm). 404 for a ticket they may not see, 403 for one they may only read."""
    from copilot.core.clock import now
    from copilot.service.actions import post_ticket_message

    object_type, object_id = post_ticket_message(session, principal, record_id, body.body, now(runtime.settings))
    session.commit()
    return Written(record={"object_type": object_type, "id": object_id})


def _messages(records: Records, ticket_id: int) -> list[RecordOut]:
    from copilot.crm.models import TicketMessage

    where = [TicketMessage.ticket_id == ticket_id]
    if not may_read_internal_notes(records.principal):
        where.append(TicketMessage.author_kind != "internal")
    rows = records.list("ticket_message", *where,
                        order_by=[TicketMessage.sent_at.asc(), TicketMessage.id.asc()], limit=200)
    out = []
    for row in rows:
        fields = records.masked("ticket_message", row)
        out.append(RecordOut(
            object_type="ticket_message", id=row.id, title=str(fields.get("author_name") or ""),
            subtitle=str(fields.get("author_kind") or ""), fields=jsonable_encoder(fields),
            url=f"/records/ticket/{ticket_id}",
        ))
    return out


# (section, child type, column pointing at the record, newest-first column) of a record's page.
RELATED: dict[str, tuple[tuple[str, str, str, str], ...]] = {
    "opportunity": (("activities", "activity", "opportunity_id", "occurred_at"),
                    ("tasks", "task", "opportunity_id", "due_date")),
    "account": (("opportunities", "opportunity", "account_id", "updated_at"),
                ("contacts", "contact", "account_id", "updated_at"),
                ("activities", "activity", "account_id", "occurred_at"),
                ("tickets", "ticket", "account_id", "updated_at"),
                ("tasks", "task", "account_id", "due_date"),
                ("contracts", "contract", "account_id", "signed_date")),
    "contact": (("activities", "activity", "contact_id", "occurred_at"),),
    "ticket": (("tasks", "task", "ticket_id", "due_date"),),
    "device": (("tickets", "ticket", "device_id", "updated_at"),),
}  # fmt: skip
