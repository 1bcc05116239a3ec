// The CRM web app: sign-in, list pages, record pages with the copilot docked beside them, KB articles.
// One page (index.html) for every path; this module reads location.pathname and draws the page.
// Navigation is ordinary links (each page a fresh load), so every view has a real URL.

import { api, login, session } from "./api.js";
import { $, h, markdownBlocks, sendOnModEnter } from "./dom.js";
import { FIELD_LABELS, LISTS, OBJECT_NAMES, VALUE_LABELS, listHref, listsFor } from "./labels.js";
import { startEmbed } from "./embed.js";
import { mountPanel } from "./panel.js";

const main = $("#main");
const side = $("#side");

function setTitle(text) {
  document.title = text ? `${text} · CRM Copilot` : "CRM Copilot";
}

function renderChrome() {
  const user = session.user;
  const nav = $("#nav");
  const here = location.pathname + location.search;
  nav.replaceChildren(...listsFor(user?.roles).map((list) => {
    const href = listHref(list);
    return h("a", { href, "aria-current": here === href ? "page" : null }, list.title);
  }));
  const search = $("#search-form");
  // Search results are the home page with ?q= (a page the server already serves).
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
// Rows are GET /v1/records shapes: {object_type, id, title, subtitle, fields, hidden, names, url}.
function listColumns(type) {
  return {
    opportunity: ["name", "account_id", "stage", "amount", "close_date", "owner_id"],
    account: ["name", "industry", "region", "city", "tier", "owner_id"],
    lead: ["name", "company", "status", "source", "score", "owner_id"],
    ticket: ["number", "subject", "priority", "status", "process_node", "account_id"],
    campaign: ["name", "kind", "status", "start_date", "end_date"],
    contact: ["name", "account_id", "title", "decision_role"],
  }[type] || ["title"];
}

function isMasked(row, field) {
  return (row.hidden || []).includes(field);
}

/** A field's value as the page shows it: a reference by its name, a hidden field masked. */
function fieldValue(row, field) {
  if (isMasked(row, field)) return h("span", { class: "masked", title: "你没有权限查看此字段" }, "••••••（无权查看）");
  const named = row.names?.[field];
  if (named) return named;
  if (field === "title") return row.title;
  return formatValue(field, row.fields?.[field]);
}

function fieldLabel(field) {
  return FIELD_LABELS[field] || FIELD_LABELS[field.replace(/_id$/, "")] || field;
}

function formatValue(field, value) {
  if (value === null || value === undefined || value === "") return "—";
  if (typeof value === "boolean") return value ? "是" : "否";
  if (Array.isArray(value)) return value.map((v) => formatValue(field, v)).join("、");
  if (typeof value === "object") return Object.values(value).map((v) => formatValue(field, v)).join(" · ");
  if (["amount", "budget", "credit_limit", "paid_amount", "list_price"].includes(field) && typeof value === "number") {
    return "¥" + value.toLocaleString("zh-CN");
  }
  if (typeof value === "string" && VALUE_LABELS[field]?.[value]) return VALUE_LABELS[field][value];
  if (typeof value === "string" && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(value)) return value.replace("T", " ").slice(0, 16);
  return String(value);
}

async function recordTable(type, query, caption) {
  const answer = await api(`/v1/records/${type}`, { query: { limit: 50, ...query } });
  const rows = answer.records || [];
  const columns = listColumns(type);
  const table = h("table", { class: "records", testid: "record-list", "data-type": type },
    h("caption", {}, caption, h("span", { class: "muted" }, `（${answer.total ?? rows.length}）`)),
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, fieldLabel(c))))),
    h("tbody", {}, rows.map((r) => h("tr", {}, columns.map((c, i) => h("td", { "data-label": fieldLabel(c) },
      i === 0 ? h("a", { href: r.url || `/records/${r.object_type || type}/${r.id}` }, r.title || fieldValue(r, c)) : fieldValue(r, c)))))));
  if (!rows.length) return h("div", { class: "empty" }, table, h("p", { class: "muted" }, "没有记录。"));
  return table;
}

const LIST_FILTERS = ["mine", "closing", "open", "q"];

async function listPage(type) {
  if (!OBJECT_NAMES[type]) return notFound("没有这个列表。");
  const params = new URLSearchParams(location.search);
  const query = {};
  for (const key of LIST_FILTERS) if (params.get(key)) query[key] = params.get(key);
  const known = LISTS.find((l) => l.type === type && listHref(l) === location.pathname + location.search);
  const title = known ? known.title : OBJECT_NAMES[type] + (query.q ? `：${query.q}` : "");
  setTitle(title);
  main.replaceChildren(h("h1", {}, title), h("p", { class: "muted" }, "加载中…"));
  const table = await recordTable(type, query, title);
  main.replaceChildren(h("h1", {}, title), table);
  dockPanel(null, title);
}

async function homePage() {
  setTitle("首页");
  const user = session.user || {};
  const roles = user.roles || [];
  if (new URLSearchParams(location.search).get("q")) return searchPage();
  // The first lists of the user's roles: a rep's deals closing this month, an agent's open tickets…
  const lists = listsFor(roles);
  let sections = lists.filter((l) => l.query.mine && l.title !== "我的商机");
  if (!sections.length) sections = lists.filter((l) => l.type === "campaign");
  if (!sections.length) sections = lists.slice(0, 1);
  main.replaceChildren(h("h1", {}, `你好，${user.display_name || user.username || ""}`));
  for (const list of sections) {
    try {
      main.append(await recordTable(list.type, list.query, list.title));
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
  const shown = tables.filter((t) => t && !t.classList.contains("empty"));
  main.append(...(shown.length ? shown : [h("p", { class: "muted" }, "没有找到匹配的记录。")]));
  dockPanel(null, `搜索 ${q}`);
}

// ---- a record --------------------------------------------------------------------------------
const RELATED_NAMES = {
  activities: "跟进记录", tasks: "任务", messages: "工单消息", contacts: "联系人", opportunities: "商机",
  tickets: "工单", devices: "设备", contracts: "合同",
};
// Columns that are plumbing, not something the CRM page shows.
const PLUMBING = new Set(["id", "department_id", "partner_id", "pool_department_id"]);

function relatedItem(row, section) {
  const f = row.fields || {};
  const date = f.occurred_at || f.sent_at || f.due_date || f.updated_at || "";
  const tag = section === "activities" ? formatValue("kind", f.kind)
    : section === "tasks" ? [formatValue("status", f.status), f.priority && formatValue("priority", f.priority)].filter(Boolean).join(" · ")
    : section === "messages" ? formatValue("author_kind", f.author_kind) : "";
  const title = section === "messages" ? (f.author_name || row.title) : row.title;
  const body = f.body || f.description || row.subtitle || "";
  const link = section === "messages" || section === "activities" || section === "tasks"
    ? h("strong", {}, title) : h("a", { href: row.url }, title);
  return h("li", { class: "related-item", "data-id": row.id },
    h("div", { class: "related-head" },
      date ? h("time", { datetime: String(date) }, formatValue("date", date)) : null,
      tag ? h("span", { class: "tag" }, tag) : null, link,
      row.names?.owner_id && section !== "messages" ? h("span", { class: "muted" }, row.names.owner_id) : null),
    body ? h("p", { class: "related-body" }, body) : null);
}

function relatedSection(section, rows) {
  return h("section", { class: "card related", "aria-label": RELATED_NAMES[section] || section, "data-related": section, testid: `related-${section}` },
    h("h2", {}, `${RELATED_NAMES[section] || section}（${rows.length}）`),
    rows.length ? h("ol", { class: "related-list" }, rows.map((r) => relatedItem(r, section))) : h("p", { class: "muted" }, "暂无"));
}

function relatedOrder(type) {
  return type === "ticket" ? ["messages", "tasks"] : ["activities", "tasks", "opportunities", "contacts", "tickets", "contracts"];
}

async function recordPage(type, id) {
  let answer;
  try {
    answer = await api(`/v1/records/${encodeURIComponent(type)}/${id}`);
  } catch (err) {
    return failure(err);
  }
  const title = answer.subtitle && type === "ticket" ? `${answer.title} ${answer.subtitle}` : answer.title;
  setTitle(title);
  const shown = Object.keys(answer.fields || {}).filter((k) => !PLUMBING.has(k));
  const columns = [...shown, ...(answer.hidden || []).filter((k) => !shown.includes(k) && !PLUMBING.has(k))];
  const head = h("section", { class: "card record", testid: "record" },
    h("p", { class: "muted kind" }, OBJECT_NAMES[type] || type),
    h("h1", {}, title),
    h("dl", { class: "fields" }, columns.map((k) => [
      h("dt", {}, fieldLabel(k)),
      h("dd", { "data-field": k }, fieldValue(answer, k)),
    ])),
    answer.team?.length ? h("p", { class: "muted" }, "协作人：" + answer.team.map((m) => m.display_name || m.username).join("、")) : null);
  const parts = [head];
  let replyBox = null;
  if (type === "ticket") {
    replyBox = ticketReply(id, () => refresh());
    parts.push(replyBox.element);
  }
  const sections = relatedOrder(type).filter((k) => answer.related?.[k]).map((k) => relatedSection(k, answer.related[k]));
  // A ticket reads like a conversation: its messages, then the reply box under them.
  if (replyBox) sections.splice(sections.findIndex((el) => el.dataset.related === "messages") + 1, 0, parts.pop());
  main.replaceChildren(...parts, ...sections);
  dockPanel({ object_type: type, object_id: Number(id) }, title, replyBox);

  async function refresh() {
    // After a confirmed action or a sent reply: the related lists again, from the server.
    try {
      answer = await api(`/v1/records/${encodeURIComponent(type)}/${id}`);
      for (const [k, rows] of Object.entries(answer.related || {})) {
        const old = main.querySelector(`[data-related="${k}"]`);
        const fresh = relatedSection(k, rows);
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
    h("div", { class: "kb-text" }, markdownBlocks(doc.text || doc.body || doc.content || "")
      .filter((el, i) => !(i === 0 && /^H[23]$/.test(el.tagName) && el.textContent.trim() === (doc.title || "").trim())))));
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
  if (path === "/embed") {
    document.body.classList.add("embedded");
    side.hidden = true;
    return startEmbed(main);
  }
  if (!session.token) {
    location.replace("/login?next=" + encodeURIComponent(location.pathname + location.search));
    return;
  }
  let m;
  try {
    if (path === "/") return await homePage();
    if ((m = /^\/records\/kb\/(.+)$/.exec(path))) return await articlePage(decodeURIComponent(m[1]));
    if ((m = /^\/records\/([a-z_]+)$/.exec(path))) return await listPage(m[1]);
    if ((m = /^\/records\/([a-z_]+)\/(\d+)$/.exec(path))) return await recordPage(m[1], m[2]);
    notFound("没有这个页面。");
  } catch (err) {
    failure(err);
  }
}

route();
