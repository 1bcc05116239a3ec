// The CRM web app: sign-in, list pages, record pages with the copilot docked beside them, KB articles.
// One page (index.html) for every path; this module reads location.pathname and draws the page.
// Navigation is ordinary links (each page a fresh load), so every view has a real URL.

import { api, login, session } from "./api.js";
import { $, h, sendOnModEnter } from "./dom.js";
import { FIELD_LABELS, LISTS, OBJECT_NAMES, recordTitle } from "./labels.js";
import { mountPanel } from "./panel.js";

const main = $("#main");
const side = $("#side");

function setTitle(text) {
  document.title = text ? `${text} · CRM Copilot` : "CRM Copilot";
}

function renderChrome() {
  const user = session.user;
  const nav = $("#nav");
  const here = location.pathname;
  nav.replaceChildren(...LISTS.map((list) => {
    const href = `/lists/${list.name}`;
    return h("a", { href, "aria-current": here === href ? "page" : null }, list.title);
  }));
  const search = $("#search-form");
  search.hidden = !user;
  nav.hidden = !user;
  const q = new URLSearchParams(location.search).get("q");
  if (q) $("#search-q").value = q;
  const who = $("#who");
  who.replaceChildren();
  if (user) {
    who.append(h("span", {}, user.display_name || user.username),
      h("button", { type: "button", class: "link", onclick: () => { session.clear(); location.href = "/login"; } }, "退出"));
  }
}

function notFound(message = "未找到：这条记录不存在，或你没有权限查看。") {
  setTitle("未找到");
  side.hidden = true;
  main.replaceChildren(h("section", { class: "card notfound", role: "alert" },
    h("h1", {}, "未找到 / Not found"), h("p", {}, message), h("p", {}, h("a", { href: "/" }, "返回首页"))));
}

function failure(err) {
  if (err.status === 401) {
    session.clear();
    location.href = "/login?next=" + encodeURIComponent(location.pathname + location.search);
    return;
  }
  if (err.status === 403 || err.status === 404) return notFound();
  side.hidden = true;
  main.replaceChildren(h("section", { class: "card", role: "alert" }, h("h1", {}, "出错了"), h("p", { class: "error" }, err.message)));
}

// ---- sign-in ---------------------------------------------------------------------------------
function loginPage() {
  setTitle("登录");
  side.hidden = true;
  const error = h("p", { class: "error", role: "alert", hidden: true, id: "login-error" });
  const username = h("input", { id: "login-username", testid: "login-username", name: "username", autocomplete: "username", required: true, autofocus: true });
  const password = h("input", { id: "login-password", testid: "login-password", name: "password", type: "password", autocomplete: "current-password", required: true });
  const submit = h("button", { type: "submit", class: "primary", testid: "login-submit" }, "登录");
  const form = h("form", { class: "card login", "aria-labelledby": "login-title" },
    h("h1", { id: "login-title" }, "登录 CRM"),
    h("label", { for: "login-username" }, "用户名"), username,
    h("label", { for: "login-password" }, "密码"), password,
    error, submit,
    h("p", { class: "muted" }, "演示账号：rep_east_1、service_agent_1、marketer_1、partner_user_1…，密码 demo"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hidden = true;
    submit.disabled = true;
    try {
      await login(username.value.trim(), password.value);
      const next = new URLSearchParams(location.search).get("next");
      location.href = next && next.startsWith("/") && !next.startsWith("//") ? next : "/";
    } catch (err) {
      error.textContent = err.status === 401 ? "用户名或密码不对。" : "登录失败：" + err.message;
      error.hidden = false;
      password.focus();
    } finally {
      submit.disabled = false;
    }
  });
  main.replaceChildren(form);
}

// ---- lists -----------------------------------------------------------------------------------
function listColumns(type) {
  return {
    opportunity: ["name", "account_name", "stage", "amount", "close_date", "owner_name"],
    account: ["name", "industry", "region", "level", "owner_name"],
    lead: ["name", "company", "status", "source", "owner_name"],
    ticket: ["number", "subject", "priority", "status", "workflow_node", "account_name"],
    campaign: ["name", "status", "start_date", "channel", "location"],
    contact: ["name", "account_name", "position", "owner_name"],
  }[type] || ["name"];
}

function cellValue(record, field) {
  let value = record[field];
  if (value === undefined && field.endsWith("_name")) value = record[field.slice(0, -5)];
  return formatValue(field, value, record);
}

function isMasked(record, field, masked) {
  const value = record[field];
  return (masked || []).includes(field) || (value && typeof value === "object" && value.masked) || value === "***" || value === "******";
}

function formatValue(field, value, record, masked) {
  if (record && isMasked(record, field, masked)) return h("span", { class: "masked", title: "你没有权限查看此字段" }, "••••••（无权查看）");
  if (value === null || value === undefined || value === "") return "—";
  if (typeof value === "boolean") return value ? "是" : "否";
  if (typeof value === "object") return value.name || value.title || value.display_name || value.username || JSON.stringify(value);
  if ((field === "amount" || field === "budget") && typeof value === "number") return "¥" + value.toLocaleString("zh-CN");
  return String(value);
}

function recordsOf(answer) {
  return answer.records || answer.results || answer.items || answer.rows || [];
}

async function recordTable(type, query, caption) {
  const answer = await api(`/v1/records/${type}`, { query: { limit: 50, ...query } });
  const rows = recordsOf(answer);
  const cols = listColumns(type).filter((c) => rows.some((r) => r[c] !== undefined || r[c.replace(/_name$/, "")] !== undefined));
  const columns = cols.length ? cols : ["name"];
  const table = h("table", { class: "records", testid: "record-list" },
    h("caption", {}, caption, h("span", { class: "muted" }, `（${answer.total ?? rows.length}）`)),
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, FIELD_LABELS[c] || c)))),
    h("tbody", {}, rows.map((r) => h("tr", {}, columns.map((c, i) => h("td", { "data-label": FIELD_LABELS[c] || c },
      i === 0 ? h("a", { href: `/records/${r.object_type || type}/${r.id}` }, cellValue(r, c) === "—" ? recordTitle(r, type) : cellValue(r, c)) : cellValue(r, c)))))));
  if (!rows.length) return h("div", {}, table, h("p", { class: "muted" }, "没有记录。"));
  return table;
}

async function listPage(name) {
  const list = LISTS.find((l) => l.name === name);
  if (!list) return notFound("没有这个列表。");
  setTitle(list.title);
  main.replaceChildren(h("h1", {}, list.title), h("p", { class: "muted" }, "加载中…"));
  const table = await recordTable(list.type, list.query, list.title);
  main.replaceChildren(h("h1", {}, list.title), table);
  dockPanel(null, list.title);
}

async function homePage() {
  setTitle("首页");
  const user = session.user || {};
  const roles = user.roles || [];
  const sections = [];
  if (roles.some((r) => r.startsWith("sales") || r === "admin" || r === "partner")) sections.push(["opportunity", LISTS[1]]);
  if (roles.some((r) => r.startsWith("service"))) sections.push(["ticket", LISTS[4]]);
  if (roles.includes("marketer")) sections.push(["campaign", LISTS[5]]);
  if (!sections.length) sections.push(["opportunity", LISTS[0]]);
  main.replaceChildren(h("h1", {}, `你好，${user.display_name || user.username || ""}`));
  for (const [type, list] of sections) {
    try {
      main.append(await recordTable(type, list.query, list.title));
    } catch (err) {
      main.append(h("p", { class: "error" }, `${list.title}：${err.message}`));
    }
  }
  dockPanel(null, "首页");
}

async function searchPage() {
  const q = (new URLSearchParams(location.search).get("q") || "").trim();
  setTitle(`搜索 ${q}`);
  main.replaceChildren(h("h1", {}, `搜索：${q}`));
  if (!q) return;
  const types = ["opportunity", "account", "lead", "ticket", "campaign", "contact"];
  const tables = await Promise.all(types.map((t) => recordTable(t, { q, limit: 20 }, OBJECT_NAMES[t]).catch(() => null)));
  const shown = tables.filter((t) => t && !t.querySelector("p.muted"));
  main.append(...(shown.length ? shown : [h("p", { class: "muted" }, "没有找到匹配的记录。")]));
  dockPanel(null, `搜索 ${q}`);
}

// ---- a record --------------------------------------------------------------------------------
const RELATED_NAMES = {
  activities: "跟进记录", tasks: "任务", messages: "工单消息", ticket_messages: "工单消息", contacts: "联系人",
  opportunities: "商机", tickets: "工单", devices: "设备", contracts: "合同", receivables: "回款",
  collaborators: "协作人", team: "团队成员", members: "成员",
};
const HIDDEN_FIELDS = new Set(["object_type", "related", "masked", "labels"]);

function relatedItem(item, kind) {
  const date = item.occurred_at || item.date || item.created_at || item.due_date || item.sent_at || "";
  const title = item.subject || item.title || item.name || item.number || "";
  const who = item.author_name || item.author || item.owner_name || item.sender || item.user || "";
  const body = item.body || item.content || item.description || item.text || item.note || "";
  const type = kind === "tasks" ? (item.status ? `[${item.status}]` : "") : (item.type || item.kind || item.direction || "");
  return h("li", { class: "related-item" },
    h("div", { class: "related-head" },
      date ? h("time", { datetime: String(date) }, String(date).replace("T", " ").slice(0, 16)) : null,
      type ? h("span", { class: "tag" }, String(type)) : null,
      title ? h("strong", {}, typeof title === "object" ? formatValue("title", title) : title) : null,
      who ? h("span", { class: "muted" }, typeof who === "object" ? formatValue("owner", who) : who) : null),
    body ? h("p", { class: "related-body" }, body) : null);
}

function relatedSection(kind, items) {
  return h("section", { class: "card related", "aria-label": RELATED_NAMES[kind] || kind, "data-related": kind },
    h("h2", {}, `${RELATED_NAMES[kind] || kind}（${items.length}）`),
    items.length ? h("ol", { class: "related-list" }, items.map((i) => relatedItem(i, kind))) : h("p", { class: "muted" }, "暂无"));
}

async function recordPage(type, id) {
  let answer;
  try {
    answer = await api(`/v1/records/${encodeURIComponent(type)}/${id}`);
  } catch (err) {
    return failure(err);
  }
  const record = answer.record || answer;
  const masked = answer.masked || answer.masked_fields || record.masked || [];
  const labels = answer.labels || {};
  const title = recordTitle(record, type);
  setTitle(title);
  const fields = Object.entries(record).filter(([k, v]) => !HIDDEN_FIELDS.has(k) && !Array.isArray(v) && !(v && typeof v === "object" && !v.masked && !v.name));
  const head = h("section", { class: "card record" },
    h("p", { class: "muted kind" }, OBJECT_NAMES[type] || type),
    h("h1", {}, title),
    h("dl", { class: "fields" }, fields.map(([k, v]) => [
      h("dt", {}, labels[k] || FIELD_LABELS[k] || k),
      h("dd", { "data-field": k }, formatValue(k, v, record, masked)),
    ])));
  const related = answer.related || {};
  const sections = Object.entries(related).filter(([, v]) => Array.isArray(v)).map(([k, v]) => relatedSection(k, v));
  const parts = [head];
  let replyBox = null;
  if (type === "ticket") {
    const reply = ticketReply(id, () => refresh());
    parts.push(reply.element);
    replyBox = reply;
  }
  main.replaceChildren(...parts, ...sections);
  dockPanel({ object_type: type, object_id: Number(id) }, title, replyBox);

  async function refresh() {
    // After a confirmed action or a sent reply: the related lists again, from the server.
    try {
      const again = await api(`/v1/records/${encodeURIComponent(type)}/${id}`);
      for (const [k, v] of Object.entries(again.related || {})) {
        if (!Array.isArray(v)) continue;
        const old = main.querySelector(`[data-related="${k}"]`);
        const fresh = relatedSection(k, v);
        if (old) old.replaceWith(fresh); else main.append(fresh);
      }
    } catch (err) {
      failure(err);
    }
  }
  recordPage.refresh = refresh;
}

function ticketReply(ticketId, refresh) {
  const box = h("textarea", { id: "reply-box", testid: "reply-box", rows: 5, maxlength: 4000, placeholder: "给客户的回复…（Ctrl/⌘+Enter 发送）" });
  const send = h("button", { type: "submit", class: "primary", testid: "reply-send" }, "发送回复");
  const status = h("p", { class: "status", role: "status" });
  let pendingAction = null;  // the reply action the inserted suggestion came with, if any
  const form = h("form", { class: "card reply", "aria-labelledby": "reply-title" },
    h("h2", { id: "reply-title" }, h("label", { for: "reply-box" }, "回复客户")),
    box, h("div", { class: "card-row" }, send, status));
  async function submit() {
    const text = box.value.trim();
    if (!text) { status.replaceChildren(h("span", { class: "error", role: "alert" }, "回复内容不能为空")); box.focus(); return; }
    send.disabled = true;
    status.textContent = "发送中…";
    try {
      if (pendingAction && pendingAction.id) {
        await api(`/v1/actions/${encodeURIComponent(pendingAction.id)}/confirm`, { method: "POST", body: { draft: text } });
      } else {
        await api(`/v1/records/ticket/${ticketId}/messages`, { method: "POST", body: { body: text } });
      }
      pendingAction = null;
      box.value = "";
      status.textContent = "已发送 ✓";
      await refresh();
    } catch (err) {
      status.replaceChildren(h("span", { class: "error", role: "alert" }, "发送失败：" + err.message));
    } finally {
      send.disabled = false;
    }
  }
  form.addEventListener("submit", (e) => { e.preventDefault(); submit(); });
  sendOnModEnter(box, submit);
  return {
    element: form,
    insert(text, action) {
      box.value = text;
      pendingAction = action || null;
      box.focus();
      box.setSelectionRange(box.value.length, box.value.length);
      box.scrollIntoView({ block: "nearest" });
      status.textContent = "已插入建议回复，可修改后发送";
    },
  };
}

// ---- a KB article ----------------------------------------------------------------------------
async function articlePage(docId) {
  let doc;
  try {
    doc = await api(`/v1/kb/documents/${encodeURIComponent(docId)}`);
  } catch (err) {
    return failure(err);
  }
  const meta = doc.front_matter || doc.metadata || {};
  setTitle(doc.title || docId);
  main.replaceChildren(h("article", { class: "card kb-article" },
    h("p", { class: "muted kind" }, "知识库文章"),
    h("h1", {}, doc.title || meta.title || docId),
    h("p", { class: "muted" }, [meta.visibility, (meta.products || []).join(", "), doc.updated_at].filter(Boolean).join(" · ")),
    h("div", { class: "kb-text" }, doc.text || doc.body || doc.content || "")));
  dockPanel(null, doc.title || docId);
}

// ---- the panel -------------------------------------------------------------------------------
function dockPanel(context, title, replyBox) {
  side.hidden = false;
  mountPanel(side, {
    context, title, roles: session.user?.roles, replyBox,
    onRecordChanged: () => recordPage.refresh?.(),
  });
}

// ---- routing ---------------------------------------------------------------------------------
async function route() {
  const path = location.pathname.replace(/\/+$/, "") || "/";
  renderChrome();
  if (path === "/login") return loginPage();
  if (!session.token) {
    location.replace("/login?next=" + encodeURIComponent(location.pathname + location.search));
    return;
  }
  let m;
  try {
    if (path === "/") return await homePage();
    if ((m = /^\/lists\/([a-z_]+)$/.exec(path))) return await listPage(m[1]);
    if (path === "/search") return await searchPage();
    if ((m = /^\/records\/([a-z_]+)\/(\d+)$/.exec(path))) return await recordPage(m[1], m[2]);
    if ((m = /^\/kb\/(.+)$/.exec(path))) return await articlePage(decodeURIComponent(m[1]));
    notFound("没有这个页面。");
  } catch (err) {
    failure(err);
  }
}

route();
