"""The CRM data model (SQLAlchemy 2, typed). Field meanings follow ../shared/domain/.

Records that people own carry the ``Owned`` columns (owner, owning department, external partner
owner); the permission policy in ``permissions.py`` is written against those columns only.
Child records (stage history, ticket messages, receivables, revenue rows, campaign members, device
service events) have no owner: they are visible exactly when their parent is.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column, relationship

Money = Numeric(14, 2)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[str]: JSON}


class Synced:
    """The host CRM's id for a row brought in by the importer or the upsert API (copilot/sync): the key
    re-imports and integrations upsert by. NULL for rows made here; unique where set."""

    external_id: Mapped[str | None] = mapped_column(String(120), unique=True, index=True)


# --- organisation -----------------------------------------------------------------------------


class Partner(Base):
    """A channel partner company (经销商/代理商/服务商) whose users log in from outside."""

    __tablename__ = "partners"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(30), default="dealer")


class Department(Synced, Base):
    __tablename__ = "departments"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(60), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    # Materialised path "/1/2/5/" so "this department and everything below it" is one LIKE.
    path: Mapped[str] = mapped_column(String(400), default="/", index=True)


class Role(Synced, Base):
    __tablename__ = "roles"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60), unique=True)
    description: Mapped[str] = mapped_column(String(200), default="")


class User(Synced, Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    display_name: Mapped[str] = mapped_column(String(120))
    email: Mapped[str | None] = mapped_column(String(200))
    mobile: Mapped[str | None] = mapped_column(String(40))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"), index=True)
    manager_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partners.id"))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    locale: Mapped[str] = mapped_column(String(10), default="zh")

    roles: Mapped[list[Role]] = relationship(secondary="user_roles", lazy="selectin")
    department: Mapped[Department | None] = relationship(lazy="joined")


class UserRole(Base):
    __tablename__ = "user_roles"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    role_id: Mapped[int] = mapped_column(ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True)


class DepartmentHead(Base):
    """Heads (负责人) and assistants of a department: read/write on everything owned below it."""

    __tablename__ = "department_heads"
    department_id: Mapped[int] = mapped_column(
        ForeignKey("departments.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), default="head")  # head | assistant


class Team(Synced, Base):
    """A named group of users (e.g. 华东铁三角), usable as a sharing-rule target."""

    __tablename__ = "teams"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)


class TeamMember(Base):
    __tablename__ = "team_members"
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)


# --- permission configuration -----------------------------------------------------------------


class ObjectSetting(Base):
    """Object-level default access (基础数据权限): private | public_read | public_read_write."""

    __tablename__ = "object_settings"
    object_type: Mapped[str] = mapped_column(String(40), primary_key=True)
    default_access: Mapped[str] = mapped_column(String(30), default="private")


class SharingRule(Synced, Base):
    """数据共享: records (owned by a department subtree, or matching a condition) → a target.

    ``condition`` is data, never SQL: ``{"field": "priority", "op": "in", "value": ["high"]}``.
    """

    __tablename__ = "sharing_rules"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), default="")
    object_type: Mapped[str] = mapped_column(String(40), index=True)
    source_kind: Mapped[str] = mapped_column(String(20))  # department | condition
    source_department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    condition: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    target_kind: Mapped[str] = mapped_column(String(20))  # role | department | user | team
    target_role: Mapped[str | None] = mapped_column(String(60))
    target_department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    target_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    target_team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    access: Mapped[str] = mapped_column(String(20), default="read")  # read | read_write


class FieldPermission(Base):
    """Field-level security, narrowed per deployment: a role that may not see a field of an object type
    even though copilot/crm/field_access.yaml (the allow-list) grants it."""

    __tablename__ = "field_permissions"
    role: Mapped[str] = mapped_column(String(60), primary_key=True)
    object_type: Mapped[str] = mapped_column(String(40), primary_key=True)
    field: Mapped[str] = mapped_column(String(60), primary_key=True)


class RecordTeamMember(Base):
    """相关团队: extra people on one record, with the owner's read/write rights."""

    __tablename__ = "record_team_members"
    object_type: Mapped[str] = mapped_column(String(40), primary_key=True)
    record_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    __table_args__ = (Index("ix_record_team_user", "user_id", "object_type", "record_id"),)


# --- owned business records -------------------------------------------------------------------


class Owned:
    """Owner, owning department and external (partner) owner: what the permission policy reads."""

    @declared_attr
    def owner_id(cls) -> Mapped[int | None]:
        return mapped_column(ForeignKey("users.id"), index=True)

    @declared_attr
    def department_id(cls) -> Mapped[int | None]:
        return mapped_column(ForeignKey("departments.id"), index=True)

    @declared_attr
    def partner_id(cls) -> Mapped[int | None]:
        return mapped_column(ForeignKey("partners.id"), index=True)

    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class Account(Owned, Synced, Base):
    __tablename__ = "accounts"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    industry: Mapped[str] = mapped_column(String(60))
    sub_industry: Mapped[str | None] = mapped_column(String(60))
    tier: Mapped[str] = mapped_column(String(20), default="B")  # 战略 | A | B | C
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    credit_limit: Mapped[Decimal | None] = mapped_column(Money)
    credit_code: Mapped[str | None] = mapped_column(String(40))
    region: Mapped[str | None] = mapped_column(String(40))
    city: Mapped[str | None] = mapped_column(String(40))
    phone: Mapped[str | None] = mapped_column(String(40))
    deal_status: Mapped[str] = mapped_column(String(20), default="未成交")
    in_public_pool: Mapped[bool] = mapped_column(Boolean, default=False)
    pool_department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))


class Contact(Owned, Synced, Base):
    __tablename__ = "contacts"
    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    title: Mapped[str | None] = mapped_column(String(80))
    # 决策者 | 影响者 | 技术把关 | 采购 | 使用者 | 财务
    decision_role: Mapped[str | None] = mapped_column(String(30))
    mobile: Mapped[str | None] = mapped_column(String(40))
    email: Mapped[str | None] = mapped_column(String(200))
    wecom_id: Mapped[str | None] = mapped_column(String(80))
    language: Mapped[str] = mapped_column(String(10), default="zh")


class Lead(Owned, Synced, Base):
    __tablename__ = "leads"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    company: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(40))
    score: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(20), default="raw")  # raw | MQL | SQL | converted | invalid
    mobile: Mapped[str | None] = mapped_column(String(40))
    in_public_pool: Mapped[bool] = mapped_column(Boolean, default=False)
    pool_department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))


class Product(Synced, Base):
    """The catalogue: visible to every signed-in user, partners included."""

    __tablename__ = "products"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    line: Mapped[str] = mapped_column(String(30))
    list_price: Mapped[Decimal] = mapped_column(Money)
    spec: Mapped[str] = mapped_column(Text, default="")


OPPORTUNITY_STAGES = ("线索验证", "需求确认", "方案报价", "商务谈判", "赢单", "输单")


class Opportunity(Owned, Synced, Base):
    __tablename__ = "opportunities"
    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    stage: Mapped[str] = mapped_column(String(30))
    amount: Mapped[Decimal] = mapped_column(Money)
    close_date: Mapped[dt.date] = mapped_column(Date)
    probability: Mapped[int] = mapped_column(Integer, default=10)
    competitor: Mapped[str | None] = mapped_column(String(120))
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id"))
    quantity: Mapped[int] = mapped_column(Integer, default=1)
    stage_entered_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    dispatch_status: Mapped[str | None] = mapped_column(String(30))  # 待发货 | 已发货 | 发货失败
    __table_args__ = (
        # Newest first, with what the permission predicate reads: a manager's "newest deals I may see"
        # is answered from this index alone, without reading a row it then rejects (permissions.page_select).
        Index("ix_opp_recent", "updated_at", "id", "owner_id", "department_id"),
        Index("ix_opp_owner_updated", "owner_id", "updated_at"),
        Index("ix_opp_dept_updated", "department_id", "updated_at"),
    )


class OpportunityStageHistory(Base):
    __tablename__ = "opportunity_stage_history"
    id: Mapped[int] = mapped_column(primary_key=True)
    opportunity_id: Mapped[int] = mapped_column(
        ForeignKey("opportunities.id", ondelete="CASCADE"), index=True
    )
    from_stage: Mapped[str | None] = mapped_column(String(30))
    to_stage: Mapped[str] = mapped_column(String(30))
    changed_at: Mapped[dt.datetime] = mapped_column(DateTime)
    changed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


ACTIVITY_KINDS = ("visit", "call", "wecom", "email", "note")


class Activity(Owned, Synced, Base):
    """跟进记录: a visit, call, WeCom message, email or note, with its text."""

    __tablename__ = "activities"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    occurred_at: Mapped[dt.datetime] = mapped_column(DateTime, index=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    opportunity_id: Mapped[int | None] = mapped_column(
        ForeignKey("opportunities.id", ondelete="CASCADE"), index=True
    )
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))


class Device(Owned, Synced, Base):
    """An installed device/asset (设备) at a customer site."""

    __tablename__ = "devices"
    id: Mapped[int] = mapped_column(primary_key=True)
    serial: Mapped[str] = mapped_column(String(60), unique=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    install_date: Mapped[dt.date] = mapped_column(Date)
    warranty_end: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20), default="运行中")
    site: Mapped[str | None] = mapped_column(String(200))


class DeviceServiceEvent(Base):
    __tablename__ = "device_service_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # install | repair | maintenance | inspection
    occurred_at: Mapped[dt.date] = mapped_column(Date)
    summary: Mapped[str] = mapped_column(Text)
    parts: Mapped[list[str]] = mapped_column(JSON, default=list)


TICKET_STATUSES = ("new", "in_progress", "pending_customer", "resolved", "closed")
TICKET_PRIORITIES = ("low", "medium", "high", "urgent")
TICKET_NODES = (
    "新建",
    "派单员指派工程师",
    "工程师已接单",
    "远程诊断",
    "上门巡检",
    "备件申请",
    "现场维修",
    "服务报告",
    "客户评价",
    "回访",
    "已完成",
)


class Ticket(Owned, Synced, Base):
    """A service ticket (工单)."""

    __tablename__ = "tickets"
    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(30), unique=True)
    subject: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    business_type: Mapped[str] = mapped_column(String(30), default="技术支持")
    channel: Mapped[str] = mapped_column(String(30), default="400热线")
    priority: Mapped[str] = mapped_column(String(10), index=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    process_node: Mapped[str] = mapped_column(String(30))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id", ondelete="SET NULL"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    error_code: Mapped[str | None] = mapped_column(String(20))
    sla_due: Mapped[dt.datetime] = mapped_column(DateTime)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class TicketMessage(Base):
    """One message of a ticket's conversation (customer or agent) or an internal comment."""

    __tablename__ = "ticket_messages"
    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    author_kind: Mapped[str] = mapped_column(String(20))  # customer | agent | internal
    author_name: Mapped[str] = mapped_column(String(80))
    body: Mapped[str] = mapped_column(Text)
    sent_at: Mapped[dt.datetime] = mapped_column(DateTime)


class Contract(Owned, Synced, Base):
    __tablename__ = "contracts"
    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    opportunity_id: Mapped[int | None] = mapped_column(ForeignKey("opportunities.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(20), default="订单合同")
    amount: Mapped[Decimal] = mapped_column(Money)
    margin: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))  # gross margin, percent
    signed_date: Mapped[dt.date] = mapped_column(Date)
    start_date: Mapped[dt.date] = mapped_column(Date)
    end_date: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20), default="执行中")
    payment_terms: Mapped[str] = mapped_column(String(200), default="")


class Receivable(Synced, Base):
    """One instalment of a contract's payment schedule (应收/回款)."""

    __tablename__ = "receivables"
    id: Mapped[int] = mapped_column(primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contracts.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    milestone: Mapped[str] = mapped_column(String(60))
    due_date: Mapped[dt.date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Money)
    paid_amount: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    paid_date: Mapped[dt.date | None] = mapped_column(Date)


class AccountRevenue(Base):
    """Monthly revenue (GTV) of an account, for 掉档预警."""

    __tablename__ = "account_revenues"
    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    month: Mapped[dt.date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Money)
    __table_args__ = (UniqueConstraint("account_id", "month"),)


class Campaign(Owned, Synced, Base):
    __tablename__ = "campaigns"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(30))  # 研讨会 | 展会 | 直播 | 客户沙龙 | 新品发布 | 邮件营销
    start_date: Mapped[dt.date] = mapped_column(Date)
    end_date: Mapped[dt.date] = mapped_column(Date)
    budget: Mapped[Decimal] = mapped_column(Money)
    segment: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id"))
    status: Mapped[str] = mapped_column(String(20), default="计划中")
    description: Mapped[str] = mapped_column(Text, default="")


class CampaignMember(Base):
    __tablename__ = "campaign_members"
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(20), default="已邀请")  # 已邀请 | 已报名 | 已签到 | 已转化


TASK_STATUSES = ("open", "done")
TASK_PRIORITIES = ("low", "medium", "high")


class Task(Owned, Base):
    """待办: a to-do with a due date, on a deal, an account or a ticket (or on its own). Owned like every
    business record: its owner (who confirmed it), their department, and the partner of the record it is on."""

    __tablename__ = "tasks"
    id: Mapped[int] = mapped_column(primary_key=True)
    subject: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    due_date: Mapped[dt.date] = mapped_column(Date, index=True)
    status: Mapped[str] = mapped_column(String(20), default="open", index=True)
    priority: Mapped[str] = mapped_column(String(10), default="medium")
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    opportunity_id: Mapped[int | None] = mapped_column(
        ForeignKey("opportunities.id", ondelete="CASCADE"), index=True
    )
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    completed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class OpportunityVisibility(Base):
    """Who sees each opportunity through the org chart: a visibility closure kept by the permission policy.

    One row per (viewer, deal): ``viewer`` is a user id (the owner, a related-team member, anyone above
    either in the line-manager chain, the head of the deal's department or of a department above it),
    or minus the id of a department that is the source of an opportunity sharing rule and the deal's
    department or above it. ``copilot.crm.permissions`` writes it (``rebuild_visibility`` and on every
    ORM flush) and reads it for "the n newest deals I may see": one index range per key instead of a
    walk through a million deals. ``updated_at`` is the deal's own value, for the order.
    """

    __tablename__ = "opportunity_visibility"
    viewer: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, primary_key=True)
    opportunity_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False, index=True)


class OpportunityVisibilityState(Base):
    """Whether ``opportunity_visibility`` is complete (one row, id 1): the policy trusts the closure only
    after a full rebuild, and a change it cannot follow row by row (the org chart, a sharing rule) turns it
    off again until the next rebuild. ``sources``: the rule source departments the closure was built for."""

    __tablename__ = "opportunity_visibility_state"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    fresh: Mapped[bool] = mapped_column(Boolean, default=False)
    sources: Mapped[str] = mapped_column(Text, default="")


# Object types the permission policy governs, by the name used in URLs, sharing rules and prompts.
OWNED_TYPES: dict[str, type[Owned]] = {
    "account": Account,
    "contact": Contact,
    "lead": Lead,
    "opportunity": Opportunity,
    "activity": Activity,
    "device": Device,
    "ticket": Ticket,
    "contract": Contract,
    "campaign": Campaign,
    "task": Task,
}

# Child type → (model, foreign key column name, parent type): visible when the parent is.
CHILD_TYPES: dict[str, tuple[type[Base], str, str]] = {
    "opportunity_stage_history": (OpportunityStageHistory, "opportunity_id", "opportunity"),
    "ticket_message": (TicketMessage, "ticket_id", "ticket"),
    "receivable": (Receivable, "contract_id", "contract"),
    "account_revenue": (AccountRevenue, "account_id", "account"),
    "campaign_member": (CampaignMember, "campaign_id", "campaign"),
    "device_service_event": (DeviceServiceEvent, "device_id", "device"),
}

CATALOG_TYPES: dict[str, type[Base]] = {"product": Product}
