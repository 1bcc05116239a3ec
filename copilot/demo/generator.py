"""A deterministic demo CRM for the vendor 星衡智能科技: organisation, customers, deals, service.

Same seed and same ``today`` → the same rows with the same ids on every backend, so demo pages and
evaluation cases can name records ("华东重工", ticket GD…0007) and stay stable. Rows are built as
plain dicts (``build_demo``) and written with bulk INSERTs (``load``), so the generator knows nothing
about sessions and the loader nothing about Chinese CRM habits.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from decimal import Decimal
from importlib import resources
from typing import Any

import yaml
from sqlalchemy import insert, text
from sqlalchemy.orm import Session

from copilot.crm import models as m
from copilot.demo import texts as tx
from copilot.demo.companies import CITY_AREA_CODES, COMPANIES, INDUSTRY_PRODUCTS, Company

DEMO_SEED = 20261120
DEMO_TODAY = dt.date(2026, 11, 20)
PARTNER_NAME = "华东精工设备经销有限公司"
HARDWARE_LINES = ("laser", "robot", "ivd", "fmcg")

Row = dict[str, Any]

# (id, code, name, parent id)
DEPARTMENTS = [
    (1, "hq", "星衡智能科技总部", None),
    (2, "sales", "销售中心", 1),
    (3, "sales-east", "华东销售部", 2),
    (4, "sales-south", "华南销售部", 2),
    (5, "service", "客户服务部", 1),
    (6, "marketing", "市场部", 1),
]
ROLES = [
    "admin", "sales_manager", "sales_rep", "service_manager", "service_agent", "marketer", "partner",
    "knowledge_manager",
]
# (id, username, display name, role, department code, manager username, partner?, locale)
USERS = [
    (1, "admin", "系统管理员", "admin", "hq", None, False, "zh"),
    (2, "sales_mgr_east", "王志强", "sales_manager", "sales-east", None, False, "zh"),
    (3, "rep_east_1", "李娜", "sales_rep", "sales-east", "sales_mgr_east", False, "zh"),
    (4, "rep_east_2", "陈浩", "sales_rep", "sales-east", "sales_mgr_east", False, "zh"),
    (5, "rep_south_1", "黄晓敏", "sales_rep", "sales-south", "sales_mgr_south", False, "zh"),
    (6, "service_mgr", "周建国", "service_manager", "service", None, False, "zh"),
    (7, "service_agent_1", "刘洋", "service_agent", "service", "service_mgr", False, "zh"),
    (8, "marketer_1", "赵雪", "marketer", "marketing", None, False, "zh"),
    (9, "partner_user_1", "孙立（华东精工）", "partner", None, None, True, "zh"),
    # background users, so the tree and the dispatch pool look like a real company
    (10, "sales_mgr_south", "吴国栋", "sales_manager", "sales-south", None, False, "zh"),
    (11, "service_agent_2", "郑凯", "service_agent", "service", "service_mgr", False, "zh"),
]
DEPARTMENT_HEADS = [("sales-east", "sales_mgr_east"), ("sales-south", "sales_mgr_south"), ("service", "service_mgr")]

OBJECT_SETTINGS = {
    "account": "private", "contact": "private", "lead": "private", "opportunity": "private",
    "activity": "private", "ticket": "private", "contract": "private",
    "device": "public_read", "campaign": "public_read",
}
# (name, object type, source department code | condition, target kind, target, access)
SHARING_RULES: list[tuple[str, str, str | dict[str, Any], str, str, str]] = [
    ("服务部工单共享给服务专员", "ticket", "service", "role", "service_agent", "read_write"),
    ("高优先级工单抄送销售", "ticket", {"field": "priority", "op": "in", "value": ["high", "urgent"]},
     "department", "sales", "read"),
    ("销售客户共享给服务专员", "account", "sales", "role", "service_agent", "read"),
    ("销售客户共享给服务经理", "account", "sales", "role", "service_manager", "read"),
    ("销售客户共享给市场", "account", "sales", "role", "marketer", "read"),
    ("销售联系人共享给服务专员", "contact", "sales", "role", "service_agent", "read"),
    ("销售联系人共享给服务经理", "contact", "sales", "role", "service_manager", "read"),
    ("销售联系人共享给市场", "contact", "sales", "role", "marketer", "read"),
    ("销售合同共享给服务经理", "contract", "sales", "role", "service_manager", "read"),
]
FIELD_PERMISSIONS = [
    *[(r, o, f) for r in ("service_agent", "service_manager") for o, f in (
        ("contract", "amount"), ("contract", "margin"), ("receivable", "amount"),
        ("receivable", "paid_amount"), ("opportunity", "amount"))],
    ("marketer", "contract", "margin"), ("marketer", "contract", "amount"),
    ("partner", "contract", "margin"),
]

STAGE_PROBABILITY = dict(zip(m.OPPORTUNITY_STAGES, (10, 25, 45, 65, 100, 0), strict=True))
OPEN_STAGES = m.OPPORTUNITY_STAGES[:4]
TICKET_STATUS_NODES: dict[str, tuple[str, ...]] = {
    "new": ("新建", "派单员指派工程师"),
    "in_progress": ("工程师已接单", "远程诊断", "上门巡检", "备件申请", "现场维修"),
    "pending_customer": ("远程诊断", "服务报告", "客户评价"),
    "resolved": ("服务报告", "客户评价", "回访"),
    "closed": ("已完成",),
}
SLA_HOURS = {"urgent": 4, "high": 8, "medium": 24, "low": 72}
PAYMENT_SCHEDULES: dict[str, list[tuple[int, str, int]]] = {
    # percent, milestone, days after signing
    "project": [(30, "签约预付款", 0), (15, "发货前", 20), (15, "发货后", 35), (20, "安装后7日内", 50),
                (10, "验收后30日内", 80), (10, "质保期满", 365)],
    "ivd": [(50, "签约预付款", 0), (40, "到货验收后", 45), (10, "质保期满", 365)],
    "fmcg": [(50, "签约预付款", 0), (40, "投放验收后", 40), (10, "年度对账后", 180)],
    "saas": [(100, "年费", 15)],
    "service": [(50, "首期服务费", 10), (50, "二期服务费", 190)],
}


@dataclass
class DemoData:
    """Rows per model, in foreign-key order."""

    rows: dict[type[m.Base], list[Row]] = field(default_factory=dict)

    def add(self, model: type[m.Base], row: Row) -> int:
        bucket = self.rows.setdefault(model, [])
        row.setdefault("id", len(bucket) + 1)
        bucket.append(row)
        return int(row["id"])

    def count(self, model: type[m.Base]) -> int:
        return len(self.rows.get(model, ()))


def load_products() -> list[dict[str, Any]]:
    raw = resources.files("copilot.demo").joinpath("products.yaml").read_text(encoding="utf-8")
    return list(yaml.safe_load(raw)["products"])


def short_name(name: str) -> str:
    for suffix in ("股份有限公司", "有限公司", "医学检验实验室", "医学检验所"):
        if name.endswith(suffix) and len(name) > len(suffix) + 2:
            return name[: -len(suffix)]
    return name


class _Builder:
    def __init__(self, seed: int, today: dt.date) -> None:
        self.rng = random.Random(seed)
        self.today = today
        self.now = dt.datetime.combine(today, dt.time(18, 0))
        self.data = DemoData()
        self.products = load_products()
        self.product_by_code = {p["code"]: i + 1 for i, p in enumerate(self.products)}
        self.user_id = {u[1]: u[0] for u in USERS}
        self.dept_id = {d[1]: d[0] for d in DEPARTMENTS}
        self.user_dept = {u[1]: self.dept_id.get(u[4]) if u[4] else None for u in USERS}
        self.accounts: list[tuple[int, Company, Row]] = []
        self.contacts_by_account: dict[int, list[Row]] = {}
        self.won: list[Row] = []
        self.device_rows: list[Row] = []

    # --- small helpers ------------------------------------------------------------------------
    def person(self) -> str:
        return self.rng.choice(tx.SURNAMES) + self.rng.choice(tx.GIVEN)

    def mobile(self) -> str:
        return f"1{self.rng.choice('3456789')}{self.rng.randrange(10**9):09d}"

    def at(self, day: dt.date, hour_from: int = 9, hour_to: int = 18) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(self.rng.randrange(hour_from, hour_to), self.rng.randrange(60)))

    def days_ago(self, lo: int, hi: int) -> dt.date:
        return self.today - dt.timedelta(days=self.rng.randint(lo, hi))

    def owned(self, owner: str | None, partner: bool, department: str | None = None) -> Row:
        dept = self.dept_id[department] if department else (self.user_dept[owner] if owner else None)
        return {"owner_id": self.user_id[owner] if owner else None, "department_id": dept,
                "partner_id": 1 if partner else None}

    def product(self, code: str) -> dict[str, Any]:
        return self.products[self.product_by_code[code] - 1]

    # --- organisation and configuration ------------------------------------------------------
    def organisation(self) -> None:
        d = self.data
        d.add(m.Partner, {"id": 1, "name": PARTNER_NAME, "kind": "dealer"})
        d.add(m.Partner, {"id": 2, "name": "岭南医疗设备服务有限公司", "kind": "service_provider"})
        paths: dict[int, str] = {}
        for dept_id, code, name, parent in DEPARTMENTS:
            paths[dept_id] = (paths[parent] if parent else "/") + f"{dept_id}/"
            d.add(m.Department, {"id": dept_id, "code": code, "name": name, "parent_id": parent,
                                 "path": paths[dept_id]})
        for i, name in enumerate(ROLES, 1):
            d.add(m.Role, {"id": i, "name": name, "description": name})
        role_id = {name: i for i, name in enumerate(ROLES, 1)}
        # Managers before their reports: the manager_id foreign key is checked row by row.
        for uid, username, display, role, dept, manager, partner, locale in sorted(USERS, key=lambda u: u[5] or ""):
            d.add(m.User, {
                "id": uid, "username": username, "display_name": display,
                "email": f"{username}@xingheng-tech.com" if not partner else "sunli@hdjg-dealer.com",
                "mobile": self.mobile(), "department_id": self.dept_id[dept] if dept else None,
                "manager_id": self.user_id[manager] if manager else None,
                "partner_id": 1 if partner else None, "is_active": True, "locale": locale,
            })
            d.rows.setdefault(m.UserRole, []).append({"user_id": uid, "role_id": role_id[role]})
        for dept, user in DEPARTMENT_HEADS:
            d.rows.setdefault(m.DepartmentHead, []).append(
                {"department_id": self.dept_id[dept], "user_id": self.user_id[user], "kind": "head"})
        d.add(m.Team, {"id": 1, "name": "华东铁三角"})
        for user in ("sales_mgr_east", "rep_east_1", "service_agent_1"):
            d.rows.setdefault(m.TeamMember, []).append({"team_id": 1, "user_id": self.user_id[user]})
        for i, p in enumerate(self.products, 1):
            d.add(m.Product, {"id": i, "code": p["code"], "name": p["name"], "name_en": p["name_en"],
                              "line": p["line"], "list_price": Decimal(p["list_price"]), "spec": p["spec"]})

    def permissions(self) -> None:
        d = self.data
        for object_type, access in OBJECT_SETTINGS.items():
            d.rows.setdefault(m.ObjectSetting, []).append({"object_type": object_type, "default_access": access})
        for name, object_type, source, target_kind, target, access in SHARING_RULES:
            row: Row = {
                "name": name, "object_type": object_type, "access": access, "target_kind": target_kind,
                "source_kind": "condition" if isinstance(source, dict) else "department",
                "source_department_id": None if isinstance(source, dict) else self.dept_id[source],
                "condition": source if isinstance(source, dict) else None,
                "target_role": target if target_kind == "role" else None,
                "target_department_id": self.dept_id[target] if target_kind == "department" else None,
                "target_user_id": None, "target_team_id": None,
            }
            d.add(m.SharingRule, row)
        for role, object_type, fld in FIELD_PERMISSIONS:
            d.rows.setdefault(m.FieldPermission, []).append({"role": role, "object_type": object_type, "field": fld})

    # --- customers ----------------------------------------------------------------------------
    def accounts_and_contacts(self) -> None:
        for i, c in enumerate(COMPANIES, 1):
            pooled = c.owner == "pool"
            owner = None if pooled else c.owner
            created = self.at(self.days_ago(420, 1500))
            row: Row = {
                "id": i, "name": c.name, "industry": c.industry, "sub_industry": c.sub_industry, "tier": c.tier,
                "tags": list(c.tags), "credit_limit": Decimal({"战略": 5_000_000, "A": 2_000_000, "B": 800_000,
                                                               "C": 200_000}[c.tier]),
                "credit_code": "91" + f"{self.rng.randrange(110000, 659999)}" + "".join(
                    self.rng.choice("0123456789ABCDEFGHJKLMNPQRTUWXY") for _ in range(10)),
                "region": c.region, "city": c.city,
                "phone": f"{CITY_AREA_CODES.get(c.city, '010')}-{self.rng.randrange(5000_0000, 8999_9999)}",
                "deal_status": "未成交", "in_public_pool": pooled,
                "pool_department_id": self.dept_id["sales"] if pooled else None,
                "created_at": created, "updated_at": created,
                **self.owned(owner, c.partner, "sales" if pooled else None),
            }
            self.data.add(m.Account, row)
            self.accounts.append((i, c, row))
            self.contacts_for(i, c, row, no_decision_maker=i % 7 == 3)

    def contacts_for(self, account_id: int, c: Company, account: Row, no_decision_maker: bool) -> None:
        roles = ["影响者", "技术把关", "采购", "使用者", "财务"]
        self.rng.shuffle(roles)
        picked = roles[: self.rng.randint(2, 4)]
        if not no_decision_maker:
            picked.insert(0, "决策者")
        elif len(picked) < 3:
            picked.append("使用者")
        contacts: list[Row] = []
        english_left = 2 if c.english else 0
        for role in picked:
            title = self.rng.choice(tx.TITLES[c.industry][role])
            if english_left and role != "使用者":
                english_left -= 1
                name, title = tx.EN_NAMES[(account_id + english_left) % len(tx.EN_NAMES)]
                email = name.lower().replace(" ", ".") + "@" + ("dfp-electronics.com" if "德丰" in c.name
                                                                 else "aurora-iot.com")
                language = "en"
            else:
                name = self.person()
                email = (f"{self.rng.randrange(10**8, 10**10)}@qq.com" if self.rng.random() < 0.5
                         else f"{self.mobile()}@163.com")
                language = "zh"
            row: Row = {
                "account_id": account_id, "name": name, "title": title, "decision_role": role,
                "mobile": self.mobile(), "email": email,
                "wecom_id": "wm" + "".join(self.rng.choice("abcdefghijkmnpqrstuvwxyz23456789") for _ in range(12)),
                "language": language, "created_at": account["created_at"], "updated_at": account["created_at"],
                "owner_id": account["owner_id"], "department_id": account["department_id"],
                "partner_id": account["partner_id"],
            }
            self.data.add(m.Contact, row)
            contacts.append(row)
        self.contacts_by_account[account_id] = contacts

    def leads(self) -> None:
        prefixes = ["宏达", "鑫盛", "汇通", "博远", "中科", "天成", "瑞丰", "金鼎", "华信", "永泰", "恒通", "联创"]
        kinds = [("精密钣金有限公司", "激光加工"), ("汽车部件有限公司", "汽车零部件"), ("医学检验所", "第三方检验"),
                 ("饮品有限公司", "饮料"), ("智能装备有限公司", "机器人集成"), ("信息科技有限公司", "软件")]
        cities = ["苏州", "杭州", "宁波", "深圳", "东莞", "广州", "无锡", "佛山"]
        statuses = ["raw", "MQL", "SQL", "converted", "invalid"]
        for i in range(36):
            company = self.rng.choice(cities) + prefixes[i % len(prefixes)] + kinds[i % len(kinds)][0]
            status = statuses[i % len(statuses)] if i < 10 else self.rng.choice(statuses[:3])
            pooled = i % 4 == 1
            owner = None if pooled else ("marketer_1" if status in ("raw", "MQL") else
                                         self.rng.choice(["rep_east_1", "rep_east_2", "rep_south_1"]))
            created = self.at(self.days_ago(3, 200))
            self.data.add(m.Lead, {
                "name": self.person(), "company": company, "source": self.rng.choice(tx.LEAD_SOURCES),
                "score": self.rng.randint(5, 95), "status": status, "mobile": self.mobile(),
                "in_public_pool": pooled, "pool_department_id": self.dept_id["sales"] if pooled else None,
                "created_at": created, "updated_at": created,
                **self.owned(owner, i % 9 == 4, "sales" if pooled else None),
            })

    # --- deals ----------------------------------------------------------------------------------
    def opportunities(self) -> None:
        stage_plan: list[str] = []
        for stage, share in zip(m.OPPORTUNITY_STAGES, (15, 17, 20, 15, 23, 10), strict=True):
            stage_plan += [stage] * share
        self.rng.shuffle(stage_plan)
        n = 0
        for account_id, c, account in self.accounts:
            pooled = c.owner == "pool"
            count = 1 if pooled else (3 if c.tier in ("战略", "A") else 2)
            for _ in range(count):
                stage = "输单" if pooled else stage_plan[n % len(stage_plan)]
                n += 1
                self.opportunity(account_id, c, account, stage, pooled)

    def opportunity(self, account_id: int, c: Company, account: Row, stage: str, pooled: bool) -> None:
        rng = self.rng
        products = INDUSTRY_PRODUCTS[c.industry].get(c.sub_industry) or INDUSTRY_PRODUCTS[c.industry]["*"]
        code = rng.choice(products[:2]) if rng.random() < 0.8 else products[-1]
        product = self.product(code)
        line = product["line"]
        qty = {"LC-3015": (1, 3), "LC-6020": (1, 2), "RB-20": (2, 8), "CR-7": (2, 6), "BA-800": (1, 2),
               "HA-5": (1, 3), "DC-CLOUD": (1, 3)}.get(code)
        quantity = rng.randint(*qty) if qty else rng.randrange(100, 1500, 50)
        discount = Decimal(rng.randint(82, 100)) / 100
        amount = (Decimal(product["list_price"]) * quantity * discount).quantize(Decimal("100"))
        owner = ("rep_east_2" if c.region != "华南" else "rep_south_1") if pooled else c.owner

        # Walk the stages up to the current one, back from today.
        if stage == "输单":
            path = [*m.OPPORTUNITY_STAGES[: rng.randint(1, 4)], "输单"]
        else:
            path = list(m.OPPORTUNITY_STAGES[: m.OPPORTUNITY_STAGES.index(stage) + 1])
        gaps = [rng.randint(6, 40) for _ in path[1:]]
        closed = stage in ("赢单", "输单")
        stale = not closed and rng.random() < 0.25
        idle = rng.randint(60, 400) if pooled else (rng.randint(5, 300) if closed else
                                                    (rng.randint(35, 80) if stale else rng.randint(0, 25)))
        last_change = self.today - dt.timedelta(days=idle)
        created_day = last_change - dt.timedelta(days=sum(gaps))
        created = self.at(created_day)
        stage_dates = [created]
        for g in gaps:
            stage_dates.append(self.at(stage_dates[-1].date() + dt.timedelta(days=g)))
        if closed:
            close_date = stage_dates[-1].date()
        elif rng.random() < 0.18:
            close_date = self.today - dt.timedelta(days=rng.randint(3, 40))  # 预计成交日已过
        else:
            close_date = stage_dates[-1].date() + dt.timedelta(days=rng.randint(20, 120))
            close_date = max(close_date, self.today + dt.timedelta(days=rng.randint(5, 30)))
        competitor = None
        if stage == "输单" or rng.random() < 0.55:
            competitor = rng.choice(tx.COMPETITORS[line])
        dispatch = None
        if stage == "赢单":
            dispatch = "待发货" if idle < 20 else ("发货失败" if rng.random() < 0.15 else "已发货")
        unit = "台" if line in HARDWARE_LINES else "年"
        name = f"{short_name(c.name)} {product['name'].split(' ')[0]} {quantity}{unit}"
        name += "采购项目" if line != "saas" else "订阅"
        row: Row = {
            "account_id": account_id, "name": name, "stage": stage, "amount": amount, "close_date": close_date,
            "probability": STAGE_PROBABILITY[stage], "competitor": competitor,
            "product_id": self.product_by_code[code], "quantity": quantity,
            "stage_entered_at": stage_dates[-1], "dispatch_status": dispatch,
            "created_at": created, "updated_at": stage_dates[-1],
            **self.owned(owner, c.partner),
        }
        opp_id = self.data.add(m.Opportunity, row)
        for i, to_stage in enumerate(path):
            self.data.add(m.OpportunityStageHistory, {
                "opportunity_id": opp_id, "from_stage": path[i - 1] if i else None, "to_stage": to_stage,
                "changed_at": stage_dates[i], "changed_by_id": self.user_id[owner]})
        self.deal_activities(opp_id, c, account, row, product, stale)
        if stage == "赢单":
            self.won.append(row)
            account["deal_status"] = "多次成交" if account["deal_status"] != "未成交" else "已成交"

    def deal_activities(self, opp_id: int, c: Company, account: Row, opp: Row, product: dict[str, Any],
                        stale: bool) -> None:
        rng = self.rng
        contacts = self.contacts_by_account[opp["account_id"]]
        start = opp["created_at"].date()
        end = opp["updated_at"].date() if (stale or opp["stage"] in ("赢单", "输单")) else self.today
        span = max((end - start).days, 1)
        owner_username = next(u[1] for u in USERS if u[0] == opp["owner_id"])
        for _ in range(rng.randint(2, 5)):
            contact = rng.choice(contacts)
            english = contact["language"] == "en"
            kind, subject, body = rng.choice(tx.ACTIVITY_TEMPLATES_EN if english else tx.ACTIVITY_TEMPLATES_ZH)
            competitor = opp["competitor"] or rng.choice(tx.COMPETITORS[product["line"]])
            context = {
                "account": short_name(c.name), "contact": contact["name"], "title": contact["title"],
                "product": product["name"].split(" ")[0] if english else product["name"],
                "competitor": competitor, "qty": opp["quantity"],
                "price_wan": f"{opp['amount'] / 10000:.1f}", "month": (self.today.month % 12) + 1,
                "line_detail": tx.LINE_DETAIL[product["line"]],
            }
            when = self.at(start + dt.timedelta(days=rng.randint(0, span)))
            self.data.add(m.Activity, {
                "kind": kind, "subject": subject.format(**context), "body": body.format(**context),
                "occurred_at": when, "account_id": opp["account_id"], "opportunity_id": opp_id,
                "contact_id": contact["id"], "created_at": when, "updated_at": when,
                **self.owned(owner_username, c.partner),
            })
            # A deal's last touch is its last activity; "stale" deals have none for 30+ days.
            if when > opp["updated_at"] and not stale:
                opp["updated_at"] = when

    def account_notes(self) -> None:
        for account_id, c, _account in self.accounts:
            contact = self.rng.choice(self.contacts_by_account[account_id])
            owner = None if c.owner == "pool" else c.owner
            when = self.at(self.days_ago(90, 400) if owner is None else self.days_ago(1, 60))
            body = (f"客户{short_name(c.name)}近半年没有新的采购计划，联系人{contact['name']}多次未接电话，"
                    "已按规则退回公海。" if owner is None else
                    f"季度回访：{contact['name']}（{contact['title']}）反馈现有设备使用正常，明年有扩产计划，"
                    "会优先考虑我们。")
            self.data.add(m.Activity, {
                "kind": "note" if owner is None else "visit",
                "subject": "退回公海说明" if owner is None else "季度客户回访",
                "body": body, "occurred_at": when, "account_id": account_id, "opportunity_id": None,
                "contact_id": contact["id"], "created_at": when, "updated_at": when,
                **self.owned(owner or "rep_east_2", c.partner),
            })

    def related_teams(self) -> None:
        opps = self.data.rows[m.Opportunity]
        east1 = [o for o in opps if o["owner_id"] == self.user_id["rep_east_1"]]
        for opp in east1[:2]:
            self.data.rows.setdefault(m.RecordTeamMember, []).append(
                {"object_type": "opportunity", "record_id": opp["id"], "user_id": self.user_id["rep_south_1"]})
        for opp in east1[2:4]:
            self.data.rows[m.RecordTeamMember].append(
                {"object_type": "opportunity", "record_id": opp["id"], "user_id": self.user_id["rep_east_2"]})
        south = next(a for _, c, a in self.accounts if c.owner == "rep_south_1")
        self.data.rows[m.RecordTeamMember].append(
            {"object_type": "account", "record_id": south["id"], "user_id": self.user_id["rep_east_1"]})

    # --- installed base and service ---------------------------------------------------------------
    def devices(self) -> None:
        serial_seq: dict[str, int] = {}

        def add_device(account_id: int, c: Company, code: str, installed: dt.date, warranty_years: int) -> None:
            product = self.product(code)
            serial_seq[code] = serial_seq.get(code, self.rng.randint(3, 40)) + self.rng.randint(1, 9)
            serial = f"{code.replace('-', '')}-{installed.year}-{serial_seq[code]:04d}"
            warranty_end = installed + dt.timedelta(days=365 * warranty_years)
            if len(self.device_rows) % 9 == 4:  # a few warranties end soon: renewal and PM reminders
                warranty_end = self.today + dt.timedelta(days=self.rng.randint(5, 58))
            row: Row = {
                "serial": serial, "product_id": self.product_by_code[code], "account_id": account_id,
                "install_date": installed, "warranty_end": warranty_end, "status": "运行中",
                "site": f"{c.city}{short_name(c.name)}" + ("检验科" if c.industry == "医疗" else
                                                           "门店" if c.industry == "快消" else "一号车间"),
                "created_at": self.at(installed), "updated_at": self.at(installed),
                **self.owned(self.rng.choice(["service_agent_1", "service_agent_2"]), c.partner),
            }
            device_id = self.data.add(m.Device, row)
            self.device_rows.append(row)
            self.service_history(device_id, product, installed)

        for account_id, c, _account in self.accounts:
            hw = [p for p in (INDUSTRY_PRODUCTS[c.industry].get(c.sub_industry) or
                              INDUSTRY_PRODUCTS[c.industry]["*"]) if self.product(p)["line"] in HARDWARE_LINES]
            if not hw:
                continue
            for _ in range(self.rng.randint(1, 2)):
                add_device(account_id, c, self.rng.choice(hw), self.days_ago(120, 1400), 2)
        company = {i: c for i, c, _ in self.accounts}
        for opp in self.won:
            product = self.products[opp["product_id"] - 1]
            if product["line"] not in HARDWARE_LINES or opp["dispatch_status"] != "已发货":
                continue
            installed = opp["close_date"] + dt.timedelta(days=self.rng.randint(20, 45))
            if installed >= self.today:
                continue
            for _ in range(min(opp["quantity"], 3)):
                add_device(opp["account_id"], company[opp["account_id"]], product["code"], installed,
                           1 if product["line"] in ("ivd", "fmcg") else 2)

    def service_history(self, device_id: int, product: dict[str, Any], installed: dt.date) -> None:
        events: list[Row] = [{"kind": "install", "occurred_at": installed,
                              "summary": tx.SERVICE_EVENT_SUMMARY["install"], "parts": []}]
        day = installed + dt.timedelta(days=180)
        while day < self.today:
            kind = "maintenance" if len(events) % 2 else "inspection"
            events.append({"kind": kind, "occurred_at": day, "summary": tx.SERVICE_EVENT_SUMMARY[kind], "parts": []})
            day += dt.timedelta(days=self.rng.randint(160, 200))
        codes = list(product["error_codes"].items())
        for _ in range(self.rng.choice([0, 0, 1, 2])):
            when = installed + dt.timedelta(days=self.rng.randint(30, max((self.today - installed).days, 31)))
            if when >= self.today:
                continue
            code, meaning = self.rng.choice(codes)
            part = self.rng.choice(tx.PARTS[product["line"]])
            events.append({"kind": "repair", "occurred_at": when, "parts": [part],
                           "summary": f"[{code}] " + tx.SERVICE_EVENT_SUMMARY["repair"].format(meaning=meaning,
                                                                                               part=part)})
        for e in sorted(events, key=lambda e: e["occurred_at"]):
            self.data.add(m.DeviceServiceEvent, {"device_id": device_id, **e})

    def tickets(self, count: int = 132) -> None:
        rng = self.rng
        pairs = [(s, n) for s, nodes in TICKET_STATUS_NODES.items() for n in nodes]
        company = {i: c for i, c, _ in self.accounts}
        saas_accounts = [i for i, c, _ in self.accounts if c.industry == "高科技" and c.owner != "pool"]
        for i in range(count):
            if i < len(pairs):
                status, node = pairs[i]
            else:
                status = rng.choices(list(TICKET_STATUS_NODES), weights=(12, 25, 12, 16, 35))[0]
                node = rng.choice(TICKET_STATUS_NODES[status])
            priority = m.TICKET_PRIORITIES[i % 4] if i < 8 else rng.choices(
                m.TICKET_PRIORITIES, weights=(20, 45, 25, 10))[0]
            device: Row | None = rng.choice(self.device_rows) if rng.random() < 0.85 else None
            if device is not None:
                account_id, product = device["account_id"], self.products[device["product_id"] - 1]
            else:
                account_id, product = rng.choice(saas_accounts), self.product("DC-CLOUD")
            c = company[account_id]
            contacts = self.contacts_by_account[account_id]
            contact = next((x for x in contacts if x["decision_role"] in ("使用者", "技术把关")), contacts[0])
            code, meaning = rng.choice(list(product["error_codes"].items()))
            code = str(code)
            open_ = status in ("new", "in_progress", "pending_customer")
            sla = SLA_HOURS[priority]
            if open_:
                # Half the open tickets are still within their SLA, half have breached it.
                hours = rng.uniform(0.3, sla * 0.8) if rng.random() < 0.5 else rng.uniform(sla * 1.2, sla + 24 * 12)
                created = self.now - dt.timedelta(hours=hours)
            else:
                created = self.at(self.days_ago(2, 300))
            english = contact["language"] == "en"
            fmt = {"product": product["name"].split(" ")[0], "code": code, "meaning": meaning,
                   "serial": device["serial"] if device else "—", "impact": rng.choice(tx.IMPACTS),
                   "impact_en": "The line is down.", "engineer": rng.choice(["郑凯", "刘洋", "周建国"])}
            subject = rng.choice(tx.TICKET_SUBJECTS_EN if english else tx.TICKET_SUBJECTS).format(**fmt)
            openers = tx.CUSTOMER_OPENERS_EN if english else tx.CUSTOMER_OPENERS
            opener = rng.choice(openers if device is not None else tx.SAAS_OPENERS).format(**fmt)
            assignee = None if node == "新建" else rng.choices(
                ["service_agent_1", "service_agent_2", "service_mgr"], weights=(55, 30, 15))[0]
            resolved_at = created + dt.timedelta(hours=rng.uniform(2, 96)) if not open_ else None
            ticket_id = self.data.add(m.Ticket, {
                "number": f"GD{created:%Y%m%d}{i + 1:04d}", "subject": subject,
                "description": f"{c.name}报修：{opener} 报警代码 {code}（{meaning}）。",
                "business_type": rng.choice(["技术支持", "技术支持", "维修", "保养", "咨询"]),
                "channel": rng.choice(["400热线", "微信服务号", "设备二维码", "官网", "App"]),
                "priority": priority, "status": status, "process_node": node,
                "assignee_id": self.user_id[assignee] if assignee else None, "account_id": account_id,
                "device_id": device["id"] if device else None, "contact_id": contact["id"], "error_code": code,
                "sla_due": created + dt.timedelta(hours=sla), "resolved_at": resolved_at,
                "created_at": created, "updated_at": resolved_at or created,
                **self.owned(assignee or "service_mgr", c.partner, "service"),
            })
            if device is not None and open_ and priority in ("high", "urgent"):
                device["status"] = "故障停机"
            self.ticket_messages(ticket_id, status, contact, opener, fmt, created, english)

    def ticket_messages(self, ticket_id: int, status: str, contact: Row, opener: str, fmt: dict[str, Any],
                        created: dt.datetime, english: bool) -> None:
        t = created
        agent = fmt["engineer"]
        messages: list[tuple[str, str, str]] = [("customer", contact["name"], opener)]
        if status != "new":
            advice = tx.CODE_ADVICE.get(fmt["code"], "请提供报警截图和设备运行日志，我们先做远程诊断。")
            if english:
                advice = f"Thanks for reporting {fmt['code']}. {advice}（已附中文处理步骤）"
            messages.append(("agent", agent, advice))
            messages.append(("customer", contact["name"], self.rng.choice(tx.CUSTOMER_FOLLOWUPS)))
        if status in ("resolved", "closed", "in_progress"):
            messages.append(("agent", agent, self.rng.choice(tx.AGENT_CLOSINGS).format(**fmt)))
        if self.rng.random() < 0.2:
            messages.append(("internal", "周建国", "内部：该客户为重点客户，请优先安排，处理结果同步销售负责人。"))
        for kind, author, body in messages:
            t += dt.timedelta(minutes=self.rng.randint(5, 240))
            self.data.add(m.TicketMessage, {"ticket_id": ticket_id, "author_kind": kind, "author_name": author,
                                             "body": body, "sent_at": t})

    # --- money --------------------------------------------------------------------------------------
    def contracts(self) -> None:
        n = 0
        overdue_every = 3
        for opp in self.won:
            product = self.products[opp["product_id"] - 1]
            line = product["line"]
            schedule = {"laser": "project", "robot": "project", "ivd": "ivd", "fmcg": "fmcg", "saas": "saas"}[line]
            signed = opp["close_date"]
            kind = "服务合同" if line == "saas" else "订单合同"
            end = signed + dt.timedelta(days=365 if line == "saas" else 730)
            n += 1
            self.contract(n, opp["account_id"], opp, kind, opp["amount"], signed, end, schedule,
                          overdue=n % overdue_every == 0)
        # Maintenance contracts on the installed base: some end within 90 days (renewal season).
        seen: set[int] = set()
        for device in self.device_rows:
            if device["account_id"] in seen or len(seen) >= 14:
                continue
            seen.add(device["account_id"])
            price = Decimal(self.products[device["product_id"] - 1]["list_price"])
            amount = (price * Decimal("0.06")).quantize(Decimal("100")) + Decimal(3000)
            end = self.today + dt.timedelta(days=self.rng.randint(10, 85) if len(seen) % 2 else
                                            self.rng.randint(120, 300))
            n += 1
            self.contract(n, device["account_id"], None, "服务合同", amount, end - dt.timedelta(days=365), end,
                          "service", overdue=len(seen) % 3 == 0)
        # Due within the next 7 days: the collections view needs something to remind about.
        future = [r for r in self.data.rows[m.Receivable] if r["due_date"] > self.today and not r["paid_amount"]]
        for r, days in zip(future[::5][:4], (2, 4, 6, 7), strict=False):
            r["due_date"] = self.today + dt.timedelta(days=days)

    def contract(self, n: int, account_id: int, opp: Row | None, kind: str, amount: Decimal, signed: dt.date,
                 end: dt.date, schedule: str, overdue: bool) -> None:
        account = self.data.rows[m.Account][account_id - 1]
        owner_id = opp["owner_id"] if opp else account["owner_id"] or self.user_id["rep_east_2"]
        plan = PAYMENT_SCHEDULES[schedule]
        contract_id = self.data.add(m.Contract, {
            "number": f"XH-{signed:%Y%m}-{n:04d}", "account_id": account_id,
            "opportunity_id": opp["id"] if opp else None, "kind": kind, "amount": amount,
            "margin": Decimal(self.rng.randint(1800, 4200)) / 100, "signed_date": signed, "start_date": signed,
            "end_date": end, "status": "已到期" if end < self.today else "执行中",
            "payment_terms": "/".join(str(p) for p, _, _ in plan) + " 分期：" + "，".join(ms for _, ms, _ in plan),
            "created_at": self.at(signed), "updated_at": self.at(signed),
            "owner_id": owner_id, "department_id": next(u for u in self.data.rows[m.User] if u["id"] == owner_id)[
                "department_id"], "partner_id": account["partner_id"],
        })
        allocated = Decimal(0)
        unpaid_marked = False
        for seq, (percent, milestone, offset) in enumerate(plan, 1):
            part = (amount * percent / 100).quantize(Decimal("0.01")) if seq < len(plan) else amount - allocated
            allocated += part
            due = signed + dt.timedelta(days=offset)
            paid, paid_date = Decimal(0), None
            if due < self.today:
                if overdue and not unpaid_marked and seq > 1:
                    unpaid_marked = True  # 逾期: due passed, nothing (or part) received
                    if self.rng.random() < 0.4:
                        paid, paid_date = (part * Decimal("0.3")).quantize(Decimal("0.01")), due
                else:
                    paid, paid_date = part, due + dt.timedelta(days=self.rng.randint(0, 12))
            self.data.add(m.Receivable, {"contract_id": contract_id, "seq": seq, "milestone": milestone,
                                         "due_date": due, "amount": part, "paid_amount": paid,
                                         "paid_date": paid_date if paid_date and paid_date <= self.today else None})

    def revenues(self) -> None:
        base = {"战略": 1_500_000, "A": 600_000, "B": 220_000, "C": 50_000}
        months = []
        y, mo = self.today.year, self.today.month
        for _ in range(14):
            mo -= 1
            if mo == 0:
                y, mo = y - 1, 12
            months.append(dt.date(y, mo, 1))
        months.reverse()
        droppers = {i for i, c, _ in self.accounts if c.owner != "pool"}
        droppers = set(sorted(droppers)[2::9])  # about five accounts 掉档 in the latest month
        for account_id, c, _ in self.accounts:
            level = base[c.tier] * self.rng.uniform(0.7, 1.3)
            for k, month in enumerate(months):
                value = level * self.rng.uniform(0.88, 1.12)
                if c.owner == "pool":
                    value *= max(0.0, 1 - k / 8)  # silent accounts fade out, then go to the pool
                if account_id in droppers and k == len(months) - 1:
                    value = level * self.rng.uniform(0.25, 0.45)
                self.data.add(m.AccountRevenue, {"account_id": account_id, "month": month,
                                                 "amount": Decimal(round(value, -2)).quantize(Decimal("0.01"))})

    def campaigns(self) -> None:
        plan: list[tuple[str, str, str, int, int, int, str, dict[str, Any]]] = [
            ("2026华东激光切割技术研讨会（苏州站）", "研讨会", "LC-3015", -70, 1, 180_000, "已结束",
             {"industry": "制造业", "region": "华东", "tags": ["激光切割"]}),
            ("第二十三届全国检验医学博览会参展", "展会", "BA-800", -40, 3, 450_000, "已结束",
             {"industry": "医疗", "sub_industry": ["综合医院", "第三方检验"]}),
            ("CR-7 协作机器人新品发布直播", "直播", "CR-7", -12, 0, 60_000, "已结束",
             {"industry": "制造业", "sub_industry": ["机器人集成", "电子制造", "汽车零部件"]}),
            ("SC-400 智能冷柜旺季投放方案发布会", "新品发布", "SC-400", 15, 1, 120_000, "筹备中",
             {"industry": "快消", "tags": ["冷柜投放"]}),
            ("DeviceCloud 季度产品更新邮件（Q4）", "邮件营销", "DC-CLOUD", 5, 0, 8_000, "计划中",
             {"industry": ["高科技", "制造业", "快消"], "lang": ["zh", "en"]}),
            ("华南汽车零部件客户沙龙（广州）", "客户沙龙", "RB-20", 30, 0, 45_000, "计划中",
             {"industry": "制造业", "region": "华南", "sub_industry": ["汽车零部件"]}),
        ]
        leads = self.data.rows[m.Lead]
        for name, kind, code, start, days, budget, status, segment in plan:
            begin = self.today + dt.timedelta(days=start)
            product = self.product(code)
            campaign_id = self.data.add(m.Campaign, {
                "name": name, "kind": kind, "start_date": begin, "end_date": begin + dt.timedelta(days=days),
                "budget": Decimal(budget), "segment": segment, "product_id": self.product_by_code[code],
                "status": status,
                "description": f"面向{segment.get('industry')}客户推广{product['name']}，{product['spec']}。",
                "created_at": self.at(begin - dt.timedelta(days=45)),
                "updated_at": self.at(begin - dt.timedelta(days=45)), **self.owned("marketer_1", False),
            })
            industries = segment["industry"] if isinstance(segment["industry"], list) else [segment["industry"]]
            done = status == "已结束"
            for account_id, c, _ in self.accounts:
                if c.industry not in industries or ("region" in segment and c.region != segment["region"]):
                    continue
                for contact in self.contacts_by_account[account_id][:2]:
                    member_status = self.rng.choice(["已报名", "已签到", "已转化"] if done else ["已邀请", "已报名"])
                    self.data.add(m.CampaignMember, {"campaign_id": campaign_id, "contact_id": contact["id"],
                                                     "lead_id": None, "status": member_status})
            for lead in leads[campaign_id::6]:
                self.data.add(m.CampaignMember, {"campaign_id": campaign_id, "contact_id": None,
                                                 "lead_id": lead["id"], "status": "已报名" if done else "已邀请"})

    def build(self) -> DemoData:
        self.organisation()
        self.permissions()
        self.accounts_and_contacts()
        self.leads()
        self.opportunities()
        self.account_notes()
        self.related_teams()
        self.devices()
        self.tickets()
        self.contracts()
        self.revenues()
        self.campaigns()
        return self.data


def build_demo(seed: int = DEMO_SEED, today: dt.date = DEMO_TODAY) -> DemoData:
    """All demo rows, in memory. Pure: no database, same output for the same arguments."""
    return _Builder(seed, today).build()


# Parents before children, so foreign keys hold at every step of the load.
INSERT_ORDER: list[type[m.Base]] = [
    m.Partner, m.Department, m.Role, m.User, m.UserRole, m.DepartmentHead, m.Team, m.TeamMember, m.Product,
    m.ObjectSetting, m.SharingRule, m.FieldPermission, m.Account, m.Contact, m.Lead, m.Opportunity,
    m.OpportunityStageHistory, m.Activity, m.RecordTeamMember, m.Device, m.DeviceServiceEvent, m.Ticket,
    m.TicketMessage, m.Contract, m.Receivable, m.AccountRevenue, m.Campaign, m.CampaignMember,
]


def load(session: Session, data: DemoData, chunk: int = 5000) -> dict[str, int]:
    """Bulk-insert the rows in the caller's transaction; returns row counts per table."""
    counts: dict[str, int] = {}
    for model in INSERT_ORDER:
        rows = data.rows.get(model, [])
        for i in range(0, len(rows), chunk):
            session.execute(insert(model), rows[i : i + chunk])
        counts[model.__tablename__] = len(rows)
    session.flush()
    reset_sequences(session, [m for m in INSERT_ORDER if data.rows.get(m)])
    return counts


def reset_sequences(session: Session, models: list[type[m.Base]]) -> None:
    """PostgreSQL does not advance a serial's sequence for explicit ids: move it past the max id, so
    later inserts (a ticket created through the API) do not collide with demo rows."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for model in models:
        table: Any = model.__table__
        if "id" not in table.c or not table.c.id.primary_key or len(table.primary_key.columns) != 1:
            continue
        session.execute(text(
            f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
            f"(SELECT COALESCE(MAX(id), 0) + 1 FROM {table.name}), false)"))
