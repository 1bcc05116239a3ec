// How the CRM names its objects and fields on screen. Field names are the API's (GET /v1/records/...);
// a field not listed here is shown by its API name.

export const OBJECT_NAMES = {
  opportunity: "商机", account: "客户", lead: "线索", ticket: "工单", campaign: "市场活动", contact: "联系人",
  device: "设备", product: "产品", contract: "合同", receivable: "回款", activity: "跟进记录", task: "任务",
  ticket_message: "工单消息", device_service_event: "服务记录", partner: "渠道伙伴",
};

export const LISTS = [
  { name: "opportunities", type: "opportunity", title: "我的商机", query: { mine: "true" } },
  { name: "closing", type: "opportunity", title: "本月待成交", query: { mine: "true", closing: "this_month" } },
  { name: "accounts", type: "account", title: "客户", query: {} },
  { name: "leads", type: "lead", title: "线索", query: {} },
  { name: "tickets", type: "ticket", title: "工单", query: {} },
  { name: "campaigns", type: "campaign", title: "市场活动", query: {} },
];

export const FIELD_LABELS = {
  id: "编号", name: "名称", title: "标题", number: "单号", subject: "主题", stage: "阶段", amount: "金额",
  close_date: "预计成交日期", expected_close_date: "预计成交日期", probability: "赢率", owner: "负责人",
  owner_name: "负责人", owner_username: "负责人", account: "客户", account_name: "客户", account_id: "客户",
  product: "产品", product_name: "产品", product_code: "产品型号", status: "状态", priority: "优先级",
  industry: "行业", region: "区域", city: "城市", province: "省份", phone: "电话", mobile: "手机", email: "邮箱",
  address: "地址", website: "网站", source: "来源", level: "级别", description: "描述", notes: "备注",
  competitor: "竞争对手", lost_reason: "输单原因", created_at: "创建时间", updated_at: "更新时间",
  contact: "联系人", contact_name: "联系人", node: "流程节点", workflow_node: "流程节点", sla_due: "SLA 截止",
  sla_due_at: "SLA 截止", alarm_code: "报警代码", device: "设备", serial_number: "序列号", channel: "渠道",
  start_date: "开始日期", end_date: "结束日期", budget: "预算", cost: "成本", location: "地点", audience: "目标人群",
  company: "公司", position: "职位", department: "部门", annual_revenue: "年营收", employees: "员工数",
  credit_limit: "信用额度", tax_id: "税号", bank_account: "银行账号", discount: "折扣", cost_price: "成本价",
  margin: "毛利", partner: "渠道伙伴", partner_name: "渠道伙伴", in_public_pool: "公海", due_date: "截止日期",
  opened_at: "创建时间", resolved_at: "解决时间", type: "类型", kind: "类型",
};

/** The record's name for headings and links, from whichever naming field its type has. */
export function recordTitle(record, objectType) {
  if (!record) return "";
  const parts = [record.number, record.name || record.title || record.subject].filter(Boolean);
  if (objectType === "ticket" && record.number && record.subject) return `${record.number} ${record.subject}`;
  return parts.length ? parts.join(" ") : `${OBJECT_NAMES[objectType] || objectType} #${record.id}`;
}
