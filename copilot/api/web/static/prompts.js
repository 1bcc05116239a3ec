// Suggested prompts per page type and role: what a person on that page usually asks first.
// Roles from the demo organisation (../shared/docs/api.md); a user with several roles gets the union.

const BY_PAGE = {
  opportunity: {
    sales: ["这个商机下一步该做什么？", "总结一下这个商机的最新进展和风险", "帮我给客户写一条跟进消息"],
    partner: ["这个商机现在到哪个阶段了？", "这个商机下一步该做什么？"],
    other: ["这个商机现在到哪个阶段了？"],
  },
  account: {
    sales: ["这个客户下一步该做什么？", "这个客户最近有哪些跟进记录？", "这个客户有哪些未关闭的工单？"],
    service: ["这个客户有哪些未关闭的工单？", "这个客户的设备保修什么时候到期？"],
    marketing: ["为这个客户写一条产品推广的企业微信消息", "这个客户参加过哪些市场活动？"],
    other: ["总结一下这个客户的情况"],
  },
  ticket: {
    service: ["帮我回复客户", "这个报警怎么排查？", "总结一下这个工单的进展"],
    sales: ["这个工单现在进展如何？"],
    other: ["这个工单现在进展如何？"],
  },
  campaign: {
    marketing: ["为这个活动写企业微信和短信两个渠道的推广文案", "写一封活动邀请邮件", "写一篇活动的公众号文章"],
    other: ["这个活动是什么时候？"],
  },
  lead: {
    sales: ["这个线索值得跟进吗？", "帮我写一条首次联系的消息"],
    marketing: ["为这个线索写一条产品介绍短信"],
    other: ["总结一下这个线索"],
  },
  contact: { other: ["这个联系人最近的跟进记录有哪些？"] },
  device: { service: ["这台设备的保修什么时候到期？", "这台设备最近有哪些服务记录？"], other: ["这台设备的情况"] },
  none: {
    sales: ["我这个月要成交的商机有哪些？", "我有哪些商机超过两周没跟进了？", "我今天该优先跟进哪些客户？"],
    service: ["我手上有哪些未关闭的工单？", "有哪些工单超过 SLA 了？"],
    marketing: ["最近有哪些市场活动？", "为 LC-3015 写一条朋友圈推广文案"],
    partner: ["我们公司有哪些商机？"],
    other: ["我这个月要成交的商机有哪些？"],
  },
};

const FAMILY = {
  admin: "sales",
  sales_manager: "sales",
  sales_rep: "sales",
  service_manager: "service",
  service_agent: "service",
  marketer: "marketing",
  partner: "partner",
};

export function suggestedPrompts(objectType, roles) {
  const page = BY_PAGE[objectType] || BY_PAGE.none;
  const families = [...new Set((roles || []).map((r) => FAMILY[r]).filter(Boolean))];
  const out = [];
  for (const family of families) for (const p of page[family] || []) if (!out.includes(p)) out.push(p);
  if (!out.length) out.push(...(page.other || BY_PAGE.none.other));
  return out.slice(0, 4);
}
