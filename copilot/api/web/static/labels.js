// How the CRM names its objects and fields on screen. Field names are the API's (GET /v1/records/...);
// a field not listed here is shown by its API name.

export const OBJECT_NAMES = {
  opportunity: "商机", account: "客户", lead: "线索", ticket: "工单", campaign: "市场活动", contact: "联系人",
  device: "设备", product: "产品", contract: "合同", receivable: "回款", activity: "跟进记录", task: "任务",
  ticket_message: "工单消息", device_service_event: "服务记录", partner: "渠道伙伴",
};

// The list pages: /records/{type} with the API's own filters in the query string.
// Which lists a role works from (a partner sees its own company's deals and accounts only).
const SALES = ["admin", "sales_manager", "sales_rep", "partner"];
const SERVICE = ["admin", "service_manager", "service_agent"];
export const LISTS = [
  { type: "opportunity", title: "我的商机", query: { mine: "true" }, roles: SALES },
  { type: "opportunity", title: "本月待成交", query: { mine: "true", closing: "this_month" }, roles: SALES },
  { type: "account", title: "客户", query: {}, roles: [...SALES, ...SERVICE, "marketer"] },
  { type: "lead", title: "线索", query: {}, roles: ["admin", "sales_manager", "sales_rep", "marketer"] },
  { type: "ticket", title: "我的待办工单", query: { mine: "true", open: "true" }, roles: SERVICE },
  { type: "ticket", title: "工单", query: {}, roles: [...SERVICE, "sales_manager", "sales_rep"] },
  { type: "campaign", title: "市场活动", query: {}, roles: ["admin", "marketer", "sales_manager"] },
];

export function listsFor(roles) {
  const mine = LISTS.filter((l) => l.roles.some((r) => (roles || []).includes(r)));
  return mine.length ? mine : LISTS.slice(0, 3);
}

export function listHref(list) {
  const qs = new URLSearchParams(list.query).toString();
  return `/records/${list.type}` + (qs ? `?${qs}` : "");
}

export const FIELD_LABELS = {
  id: "编号", name: "名称", title: "职位", number: "单号", subject: "主题", stage: "阶段", amount: "金额",
  close_date: "预计成交日期", probability: "赢率(%)", owner: "负责人", account: "客户", product: "产品",
  quantity: "数量", stage_entered_at: "进入本阶段", dispatch_status: "派工状态", competitor: "竞争对手",
  industry: "行业", sub_industry: "细分行业", tier: "客户等级", tags: "标签", credit_limit: "信用额度",
  credit_code: "统一社会信用代码", region: "区域", city: "城市", phone: "电话", deal_status: "成交状态",
  in_public_pool: "公海", company: "公司", source: "来源", score: "评分", status: "状态", mobile: "手机",
  email: "邮箱", wecom_id: "企业微信", language: "语言", decision_role: "决策角色", description: "描述",
  business_type: "业务类型", channel: "渠道", priority: "优先级", process_node: "流程节点", assignee: "处理人",
  device: "设备", contact: "联系人", error_code: "报警代码", sla_due: "SLA 截止", resolved_at: "解决时间",
  kind: "类型", start_date: "开始日期", end_date: "结束日期", budget: "预算", segment: "目标人群",
  serial: "序列号", install_date: "安装日期", warranty_end: "保修到期", site: "安装地点", body: "内容",
  occurred_at: "时间", due_date: "截止日期", completed_at: "完成时间", opportunity: "商机", ticket: "工单",
  author_kind: "发送方", author_name: "发送人", sent_at: "发送时间", created_at: "创建时间", updated_at: "更新时间",
  contract: "合同", campaign: "活动", margin: "毛利率(%)", signed_date: "签订日期", payment_terms: "付款条件",
  paid_amount: "已回款", paid_date: "回款日期", milestone: "节点", seq: "期次", code: "型号", name_en: "英文名",
  line: "产品线", list_price: "目录价", spec: "规格",
};

// Stored codes shown in the CRM's words.
export const VALUE_LABELS = {
  priority: { urgent: "紧急", high: "高", medium: "中", normal: "普通", low: "低" },
  status: {
    open: "待处理", new: "新建", in_progress: "处理中", pending_customer: "等待客户", resolved: "已解决", closed: "已关闭",
    done: "已完成", cancelled: "已取消", planned: "计划中", running: "进行中", finished: "已结束", contacted: "已联系",
    qualified: "已确认", converted: "已转化", disqualified: "无效", active: "正常", fault: "故障", ongoing: "进行中",
  },
  kind: { wecom: "企业微信", email: "邮件", call: "电话", visit: "拜访", note: "备注", meeting: "会议" },
  author_kind: { customer: "客户", agent: "客服", system: "系统" },
};
