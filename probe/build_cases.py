"""Build probe/cases.yaml: hand-written SQL over the demo DB computes each lookup's expected ids.

Written by an outside tester from the data and ../shared/docs only (never from the code).
Definitions (a service agent's / sales manager's reading, today = 2026-11-20, a Friday):
  open ticket = status in (new, in_progress, pending_customer); 未处理 = new; 处理中 = in_progress;
  已解决 = resolved; closed/已关闭 = closed.  SLA breached: see NOWS below.
  上周 = 2026-11-09..11-15; 本周/这周 = 11-16..11-20; 本月 = November 2026;
  last 7 days = 11-14..11-20; 近三天 = 11-18..11-20; 本季度 = 2026-10-01..12-31.
  open deal = stage not in (赢单, 输单).
Where a phrase honestly allows two readings, `alt` lists the other acceptable id sets.
Visibility (design.md + demo data): every ticket is department `service` -> service_agent role has
read_write via sharing rule 1, service_mgr is the department head, admin sees all: tickets need no
extra filter.  Sales records are private: owner, related team (record_team_members), line manager,
department head (sales_mgr_east heads sales-east); pooled accounts/leads of `sales` are readable by
sales members, sub-departments included as for KB departments (without: an alt).
Usage: python probe/build_cases.py DB_PATH > probe/cases.yaml  (DB built with CRM_COPILOT_TODAY=2026-11-20)
"""

# ruff: noqa: E501  (a table of hand-written SQL reads better unwrapped)
from __future__ import annotations

import sqlite3
import sys

import yaml

OPEN = "('new','in_progress','pending_customer')"
OPEN_DEAL = "stage not in ('赢单','输单')"
T = "select t.id from tickets t left join devices d on d.id=t.device_id left join products p on p.id=d.product_id where "

# visible opportunity / account / lead / contact / activity predicates per user
VIS_OPP = {
    "rep_east_1": "(o.owner_id=3 or o.id in (select record_id from record_team_members where object_type='opportunity' and user_id=3))",
    "rep_east_2": "(o.owner_id=4 or o.id in (select record_id from record_team_members where object_type='opportunity' and user_id=4))",
    "rep_south_1": "(o.owner_id=5 or o.id in (select record_id from record_team_members where object_type='opportunity' and user_id=5))",
    "sales_mgr_east": "(o.owner_id in (2,3,4) or o.department_id=3)",
}
POOL_ACC = "(a.in_public_pool=1 and a.pool_department_id=2)"  # 公海 of `sales`: its sub-departments' members read it
TEAM_ACC = "a.id in (select record_id from record_team_members where object_type='account' and user_id in ({}))"
VIS_ACC_NO_POOL = {
    "rep_east_1": f"(a.owner_id=3 or {TEAM_ACC.format(3)})",
    "rep_south_1": f"(a.owner_id=5 or {TEAM_ACC.format(5)})",
    # line manager of the east reps (also of their related-team records) and head of sales-east
    "sales_mgr_east": f"(a.owner_id in (2,3,4) or a.department_id=3 or {TEAM_ACC.format('2,3,4')})",
}
VIS_ACC = {u: f"({p} or {POOL_ACC})" for u, p in VIS_ACC_NO_POOL.items()}

CASES: list[dict] = []


def tk(cid, user, msg, where, alt=None, obj=None):
    CASES.append(
        {
            "id": cid,
            "category": "ticket_lookup",
            "user": user,
            "message": msg,
            "skill": "ticket_lookup",
            "sql": T + where,
            "alt_sql": [T + a for a in alt or []],
        }
    )


def rec(cid, user, msg, sql, alt=None):
    CASES.append(
        {
            "id": cid,
            "category": "record_lookup",
            "user": user,
            "message": msg,
            "skill": "record_lookup",
            "sql": sql,
            "alt_sql": alt or [],
        }
    )


A, S, M = "service_agent_1", "service_mgr", "admin"
# "now": the demo's latest record was created 2026-11-20 17:40, so the primary reading is 18:00 that day;
# the start and the end of the day are accepted too.  "SLA breached" is read two ways: open and past
# sla_due (primary), or also closed late (resolved_at > sla_due).
NOWS = ["'2026-11-20 18:00:00'", "'2026-11-20 00:00:00'", "'2026-11-20 23:59:59'"]
BR = f"t.status in {OPEN} and t.sla_due < {NOWS[0]}"
BRS = [f"t.status in {OPEN} and t.sla_due < {n}" for n in NOWS[1:]] + [
    f"((t.status in {OPEN} and t.sla_due < {n}) or (t.resolved_at is not null and t.resolved_at > t.sla_due))"
    for n in NOWS
]


def alts(prefix: str) -> list[str]:
    return [prefix + b for b in BRS]


tk("t01", A, "我的未处理工单", "t.assignee_id=7 and t.status='new'")
tk("t02", A, "分配给我的处理中工单", "t.assignee_id=7 and t.status='in_progress'")
tk("t03", A, "my open tickets", f"t.assignee_id=7 and t.status in {OPEN}")
tk(
    "t04",
    A,
    "my high priority tickets that are still open",
    f"t.assignee_id=7 and t.priority='high' and t.status in {OPEN}",
    [f"t.assignee_id=7 and t.priority in ('high','urgent') and t.status in {OPEN}"],
)
tk("t05", A, "所有紧急工单", "t.priority='urgent'", [f"t.priority='urgent' and t.status in {OPEN}"])
tk("t06", A, "未分配的工单", "t.assignee_id is null")
tk("t07", A, "unassigned tickets", "t.assignee_id is null")
tk("t08", A, "华东重工的工单", "t.account_id=1")
tk("t09", A, "澜图的未解决工单", f"t.account_id=33 and t.status in {OPEN}")
tk("t10", A, "深圳科瑞 处理中的工单", "t.account_id=15 and t.status='in_progress'")
tk(
    "t11",
    A,
    "本月已解决的工单",
    "t.status='resolved' and t.resolved_at >= '2026-11-01'",
    ["t.status in ('resolved','closed') and t.resolved_at >= '2026-11-01'"],
)
tk("t12", A, "closed tickets for 嘉兴嘉禾", "t.account_id=12 and t.status='closed'")
tk("t13", A, "SLA breached tickets", BR, alts(""))
tk("t14", A, "分配给我的超时工单", "t.assignee_id=7 and " + BR, alts("t.assignee_id=7 and "))
tk("t15", A, "LC-3015 的工单", "p.code='LC-3015'")
tk("t16", A, "CR-7 open tickets", f"p.code='CR-7' and t.status in {OPEN}")
tk("t17", A, "SC-400 冷柜 待客户反馈的工单", "p.code='SC-400' and t.status='pending_customer'")
tk("t18", A, "上周新建的工单", "date(t.created_at) between '2026-11-09' and '2026-11-15'")
tk(
    "t19",
    A,
    "tickets created in the last 7 days",
    "date(t.created_at) between '2026-11-14' and '2026-11-20'",
    ["date(t.created_at) between '2026-11-13' and '2026-11-20'"],
)
tk(
    "t20",
    A,
    "近三天的高优先级工单",
    "date(t.created_at) between '2026-11-18' and '2026-11-20' and t.priority='high'",
    [
        "date(t.created_at) between '2026-11-18' and '2026-11-20' and t.priority in ('high','urgent')",
        "date(t.created_at) between '2026-11-17' and '2026-11-20' and t.priority='high'",
        "date(t.created_at) between '2026-11-17' and '2026-11-20' and t.priority in ('high','urgent')",
    ],
)
tk("t21", A, "今天新建的工单", "date(t.created_at)='2026-11-20'")
tk("t22", A, "E-204 报警相关的工单", "t.error_code='E-204'")
tk("t23", A, "A-17 tickets still open", f"t.error_code='A-17' and t.status in {OPEN}")
tk("t24", S, "郑凯手上的处理中工单", "t.assignee_id=11 and t.status='in_progress'")
tk("t25", S, "刘洋的未处理工单", "t.assignee_id=7 and t.status='new'")
tk("t26", S, "未分配的紧急工单", "t.assignee_id is null and t.priority='urgent'")
tk("t27", S, "urgent tickets breaching SLA", "t.priority='urgent' and " + BR, alts("t.priority='urgent' and "))
tk("t28", S, "本月创建的维修工单", "t.business_type='维修' and t.created_at >= '2026-11-01'")
tk("t29", S, "400热线进来的未处理工单", "t.channel='400热线' and t.status='new'")
tk("t30", S, "广东椰岛 pending customer tickets", "t.account_id=41 and t.status='pending_customer'")
tk("t31", S, "low priority tickets assigned to 刘洋", "t.assignee_id=7 and t.priority='low'")
tk("t32", M, "所有待客户反馈的工单", "t.status='pending_customer'")
tk("t33", M, "工单 GD202611200109", "t.number='GD202611200109'")
tk("t34", M, "南京明德医院的工单", "t.account_id=25")
tk("t35", A, "我处理中的紧急工单", "t.assignee_id=7 and t.status='in_progress' and t.priority='urgent'")
tk("t36", A, "已关闭的工单 for 无锡恒力", "t.account_id=3 and t.status='closed'")
tk("t37", A, "HA-5 血球仪 未解决的工单", f"p.code='HA-5' and t.status in {OPEN}")
tk("t38", A, "medium priority tickets unassigned", "t.assignee_id is null and t.priority='medium'")
tk("t39", S, "assigned to me", "t.assignee_id=6")
tk("t40", A, "已解决的 LC-6020 工单", "p.code='LC-6020' and t.status='resolved'")
tk("t41", A, "微信服务号来的工单 this month", "t.channel='微信服务号' and t.created_at >= '2026-11-01'")
tk(
    "t42",
    A,
    "my tickets with SLA breached, high or urgent",
    "t.assignee_id=7 and t.priority in ('high','urgent') and " + BR,
    alts("t.assignee_id=7 and t.priority in ('high','urgent') and "),
)
tk("t43", A, "上海晨露 的 open tickets", f"t.account_id=39 and t.status in {OPEN}")
tk("t44", A, "保养工单 处理中", "t.business_type='保养' and t.status='in_progress'")
tk(
    "t45",
    S,
    "郑凯本月的高优先级工单",
    "t.assignee_id=11 and t.created_at >= '2026-11-01' and t.priority='high'",
    ["t.assignee_id=11 and t.created_at >= '2026-11-01' and t.priority in ('high','urgent')"],
)

OPP = "select o.id from opportunities o where "
NOV = "o.close_date between '2026-11-01' and '2026-11-30'"
rec(
    "r01",
    "rep_east_1",
    "本月要成交的商机",
    OPP + VIS_OPP["rep_east_1"] + f" and {NOV} and {OPEN_DEAL}",
    [OPP + VIS_OPP["rep_east_1"] + f" and {NOV}"],
)
rec("r02", "rep_east_1", "我的商务谈判阶段的商机", OPP + "o.owner_id=3 and o.stage='商务谈判'")
rec(
    "r03",
    "rep_east_2",
    "my open deals over 1 million",
    OPP + f"o.owner_id=4 and {OPEN_DEAL} and o.amount > 1000000",
    [OPP + VIS_OPP["rep_east_2"] + f" and {OPEN_DEAL} and o.amount > 1000000"],
)
rec("r04", "sales_mgr_east", "方案报价阶段的商机", OPP + VIS_OPP["sales_mgr_east"] + " and o.stage='方案报价'")
rec(
    "r05",
    "sales_mgr_east",
    "deals closing this month over 500k",
    OPP + VIS_OPP["sales_mgr_east"] + f" and {NOV} and {OPEN_DEAL} and o.amount > 500000",
    [OPP + VIS_OPP["sales_mgr_east"] + f" and {NOV} and o.amount > 500000"],
)
rec("r06", "sales_mgr_east", "李娜的赢单商机", OPP + "o.owner_id=3 and o.stage='赢单'")
AC = "select a.id from accounts a where "
rec("r07", "rep_east_1", "上海的客户", AC + VIS_ACC["rep_east_1"] + " and a.city='上海'")
rec(
    "r08",
    "rep_east_1",
    "医疗行业的客户",
    AC + VIS_ACC["rep_east_1"] + " and a.industry='医疗'",
    [AC + VIS_ACC_NO_POOL["rep_east_1"] + " and a.industry='医疗'"],
)
rec("r09", "sales_mgr_east", "杭州的客户", AC + VIS_ACC["sales_mgr_east"] + " and a.city='杭州'")
rec("r10", "rep_south_1", "深圳的客户", AC + VIS_ACC["rep_south_1"] + " and a.city='深圳'")
rec("r11", "rep_east_1", "我的线索", "select l.id from leads l where l.owner_id=3")
rec("r12", "rep_east_2", "my SQL leads", "select l.id from leads l where l.owner_id=4 and l.status='SQL'")
rec("r13", "rep_east_1", "华东重工的联系人", "select c.id from contacts c where c.account_id=1 and c.owner_id=3")
rec(
    "r14",
    "sales_mgr_east",
    "contacts at 江苏绿源乳业",
    "select c.id from contacts c where c.account_id=40 and (c.owner_id in (2,3,4) or c.department_id=3)",
)
ACT = "select x.id from activities x where "
rec(
    "r15",
    "rep_east_1",
    "我上周的拜访记录",
    ACT + "x.owner_id=3 and x.kind='visit' and date(x.occurred_at) between '2026-11-09' and '2026-11-15'",
)
rec(
    "r16",
    "rep_east_1",
    "my activities last week",
    ACT + "x.owner_id=3 and date(x.occurred_at) between '2026-11-09' and '2026-11-15'",
)
rec(
    "r17",
    "rep_east_2",
    "这周的跟进记录",
    ACT + "x.owner_id=4 and date(x.occurred_at) between '2026-11-16' and '2026-11-20'",
)
rec("r18", "rep_south_1", "我的方案报价商机", OPP + "o.owner_id=5 and o.stage='方案报价'")
rec(
    "r19",
    "rep_south_1",
    "open deals with a competitor",
    OPP + VIS_OPP["rep_south_1"] + f" and {OPEN_DEAL} and o.competitor is not null and o.competitor != ''",
)
rec("r20", "sales_mgr_east", "陈浩的需求确认商机", OPP + "o.owner_id=4 and o.stage='需求确认'")
rec("r21", "rep_east_1", "战略客户", AC + VIS_ACC["rep_east_1"] + " and a.tier='战略'")
rec(
    "r22",
    "sales_mgr_east",
    "快消行业的A类客户",
    AC + VIS_ACC["sales_mgr_east"] + " and a.industry='快消' and a.tier='A'",
)
rec(
    "r23",
    "rep_east_2",
    "已经过了预计成交日期还没关单的商机",
    OPP + VIS_OPP["rep_east_2"] + f" and {OPEN_DEAL} and o.close_date < '2026-11-20'",
    [OPP + f"o.owner_id=4 and {OPEN_DEAL} and o.close_date < '2026-11-20'"],
)
rec("r24", "rep_east_1", "DeviceCloud 的商机", OPP + VIS_OPP["rep_east_1"] + " and o.product_id=8")
rec(
    "r25",
    "sales_mgr_east",
    "本季度要关的商机",
    OPP + VIS_OPP["sales_mgr_east"] + f" and {OPEN_DEAL} and o.close_date between '2026-10-01' and '2026-12-31'",
    [OPP + VIS_OPP["sales_mgr_east"] + f" and {OPEN_DEAL} and o.close_date between '2026-11-20' and '2026-12-31'"],
)


def ids(con, sql):
    return sorted(r[0] for r in con.execute(sql))


def main() -> None:
    con = sqlite3.connect(sys.argv[1])
    out = []
    for c in CASES:
        c = dict(c)
        c["expected_ids"] = ids(con, c["sql"])
        alts = [ids(con, s) for s in c["alt_sql"]]
        c["alt_expected_ids"] = [a for a in alts if a != c["expected_ids"]]
        out.append(c)
    with open(__file__.replace("build_cases.py", "manual_cases.yaml"), encoding="utf-8") as f:
        extra = yaml.safe_load(f)
    out.extend(extra)
    yaml.safe_dump(out, sys.stdout, allow_unicode=True, sort_keys=False, width=200)


if __name__ == "__main__":
    main()
