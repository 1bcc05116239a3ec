// The copilot panel docked beside a record (and mounted alone by the widget). It knows the page it is on
// (context), suggests prompts for it, keeps one conversation per record, streams answers, and shows what
// the result carries: citations as links, next-best actions as cards a person confirms, reply drafts that
// go into the ticket's reply box, marketing variants side by side with the wording check.

import { api, assistStream, citationHref, parseCitation, session } from "./api.js";
import { copyText, h, sendOnModEnter } from "./dom.js";
import { suggestedPrompts } from "./prompts.js";

const SKILL_NAMES = {
  record_qa: "记录问答",
  next_best_action: "下一步建议",
  marketing_copy: "营销文案",
  troubleshoot: "故障排查",
  reply_suggestion: "回复建议",
  ticket_lookup: "工单查询",
  record_lookup: "记录查询",
};
const CHANNEL_NAMES = {
  wecom: "企业微信", moments: "朋友圈", email: "邮件", sms: "短信", poster: "海报", article: "公众号文章",
};
const FIELD_NAMES = {
  subject: "主题", headline: "主标题", sub: "副标题", cta: "行动号召", title: "标题", keywords: "关键词",
  description: "摘要", body: "正文",
};
// Inline evidence markers the skills write into answers: [crm:opportunity:1] [kb:doc#chunk]
const MARKER = /\s*\[((?:crm|kb):[^\]\s]+)\]/g;

function storageKey(context) {
  const who = session.user?.username || "?";
  return context ? `copilot-conv:${who}:${context.object_type}:${context.object_id}` : `copilot-conv:${who}:none`;
}

/**
 * mountPanel(container, {context, title, roles, replyBox, onRecordChanged})
 *   context: {object_type, object_id} or null; title: the record's name for the header
 *   replyBox: {insert(text)} when the page has a ticket reply box
 *   onRecordChanged(record): after a confirmed action wrote something
 */
export function mountPanel(container, options = {}) {
  const context = options.context || null;
  const state = { conversationId: localStorage.getItem(storageKey(context)) || null, busy: false };

  const input = h("textarea", {
    id: "copilot-input", testid: "copilot-input", rows: 3, maxlength: 4000,
    placeholder: "问点什么…（Ctrl/⌘+Enter 发送）", "aria-describedby": "copilot-hint",
  });
  const sendButton = h("button", { type: "submit", testid: "copilot-send", class: "primary" }, "发送");
  const inputError = h("p", { class: "error", role: "alert", hidden: true });
  const turns = h("ol", { class: "turns", "aria-live": "polite", "aria-label": "对话" });
  const suggestions = h("div", { class: "suggestions", role: "group", "aria-label": "建议的问题" },
    suggestedPrompts(context?.object_type, options.roles || session.user?.roles).map((text) =>
      h("button", { type: "button", class: "chip", onclick: () => { input.value = text; send(); } }, text)));
  const newButton = h("button", { type: "button", class: "link", onclick: newConversation, title: "开始新的对话" }, "新对话");

  const form = h("form", { class: "composer", onsubmit: (e) => { e.preventDefault(); send(); } },
    h("label", { for: "copilot-input" }, "问 Copilot"),
    input, inputError,
    h("div", { class: "composer-row" },
      h("small", { id: "copilot-hint", class: "muted" }, "Ctrl/⌘+Enter 发送"), sendButton));
  sendOnModEnter(input, send);

  const panel = h("section", { class: "copilot", testid: "copilot-panel", "aria-label": "Copilot 助手" },
    h("header", { class: "copilot-head" },
      h("h2", {}, "Copilot"),
      h("span", { class: "muted context-label" }, context && options.title ? `正在看：${options.title}` : "不针对具体记录"),
      newButton),
    suggestions, turns, form);
  container.replaceChildren(panel);
  if (state.conversationId) loadHistory();

  async function loadHistory() {
    try {
      const conv = await api(`/v1/conversations/${encodeURIComponent(state.conversationId)}`);
      for (const turn of conv.turns || []) {
        turns.append(userBubble(turn.message));
        const block = answerBlock();
        turns.append(block.el);
        if (turn.withheld) block.setText("（这条回答引用的记录你已无权查看）");
        else block.render({ ...turn, answer: turn.answer, conversation_id: state.conversationId }, options);
      }
    } catch (err) {
      if (err.status === 404) forget();
    }
  }

  function forget() {
    state.conversationId = null;
    localStorage.removeItem(storageKey(context));
  }

  function newConversation() {
    forget();
    turns.replaceChildren();
    input.focus();
  }

  async function send() {
    const message = input.value.trim();
    inputError.hidden = true;
    if (!message) {
      showInputError("请输入问题 / type a question first");
      return;
    }
    if (state.busy) return;
    state.busy = true;
    sendButton.disabled = true;
    sendButton.textContent = "回答中…";
    const bubble = userBubble(message);
    const block = answerBlock(options.embedded);
    turns.append(bubble, block.el);
    block.el.scrollIntoView({ block: "nearest" });
    input.value = "";
    const body = { message };
    if (context) body.context = { object_type: context.object_type, object_id: Number(context.object_id) };
    if (state.conversationId) body.conversation_id = state.conversationId;
    try {
      const result = await assistStream(body, {
        meta: (meta) => block.setSkill(meta.skill),
        delta: (text) => block.appendText(text),
      });
      if (result.conversation_id) {
        state.conversationId = result.conversation_id;
        localStorage.setItem(storageKey(context), result.conversation_id);
      }
      block.render(result, options);
    } catch (err) {
      if (err.status === 404 && state.conversationId && /conversation/i.test(err.message)) forget();
      // The error takes the place of the pending answer, where the user is looking; the question goes
      // back into the box so a retry is one key press.
      block.fail(err, () => { input.value = message; send(); });
      if (!input.value) input.value = message;
    } finally {
      state.busy = false;
      sendButton.disabled = false;
      sendButton.textContent = "发送";
      input.focus();
    }
  }

  function showInputError(message) {
    inputError.textContent = message;
    inputError.hidden = false;
    input.focus();
  }

  return { send, input, element: panel };
}

function userBubble(message) {
  return h("li", { class: "turn user" }, h("p", { class: "bubble" }, message));
}

/** The pending/finished answer of one turn. */
function answerBlock(embedded = false) {
  const skill = h("span", { class: "skill muted" }, "思考中…");
  const text = h("div", { class: "answer-text streaming" });
  const extras = h("div", { class: "extras" });
  const el = h("li", { class: "turn assistant", testid: "copilot-message", "aria-busy": "true" }, skill, text, extras);
  let raw = "";
  return {
    el,
    setSkill(name) { skill.textContent = SKILL_NAMES[name] || name || ""; },
    setText(value) { raw = value; text.textContent = value; text.classList.remove("streaming"); el.removeAttribute("aria-busy"); },
    appendText(piece) { raw += piece; text.textContent = raw; },
    fail(err, retry) {
      el.removeAttribute("aria-busy");
      el.classList.add("failed");
      skill.textContent = "没有得到回答";
      text.classList.remove("streaming");
      text.replaceChildren(
        h("p", { class: "error", role: "alert" }, errorMessage(err),
          err.status === 401 && !embedded ? [" ", h("a", { href: "/login?next=" + encodeURIComponent(location.pathname + location.search) }, "重新登录")] : null),
        h("button", { type: "button", class: "secondary", onclick: () => { el.previousElementSibling?.remove(); el.remove(); retry(); } }, "重试"));
      extras.replaceChildren();
    },
    render(result, options) {
      el.removeAttribute("aria-busy");
      text.classList.remove("streaming");
      skill.textContent = (SKILL_NAMES[result.skill] || result.skill || "") + (result.degraded ? " · 离线回答" : "");
      renderResult(result, { text, extras, options });
    },
  };
}

function errorMessage(err) {
  if (err.status === 401) return "登录已过期，请重新登录。(" + err.message + ")";
  if (err.status === 403 || err.status === 404) return "无权查看或记录不存在：" + err.message;
  if (err.status === 413) return "问题太长了：" + err.message;
  if (err.status === 429) return "请求太频繁，请稍后再试。";
  return "出错了：" + err.message;
}

function renderResult(result, { text, extras, options }) {
  const citations = uniqueCitations(result.citations || []);
  const actions = result.actions || [];
  const data = result.data || {};
  let answer = result.answer || "";
  // A draft shown in its action card is not repeated in the answer text above it.
  for (const action of actions) {
    if (action.draft) answer = answer.split(action.draft).join("").replace(/(草稿|Draft)[:：]\s*(\n|$)/g, "");
  }
  answer = answer.replace(/\n{3,}/g, "\n\n").trim();

  if (result.skill === "marketing_copy" && data.by_channel) {
    text.replaceChildren(variantsView(data), wordingCheck(data, result));
  } else if (actions.some((a) => a.reason) && result.skill === "next_best_action") {
    // Each suggestion's title, reason and draft are on its card: the answer keeps its heading, and the
    // whole text stays one click away (it is what was streamed).
    const [heading] = answer.split("\n");
    text.replaceChildren(h("p", { class: "lead" }, ...answerWithMarkers(heading, citations)),
      h("details", { class: "full-text" }, h("summary", {}, "全文"), h("div", {}, ...answerWithMarkers(answer, citations))));
  } else {
    text.replaceChildren(...answerWithMarkers(answer, citations));
  }
  const parts = [];
  // A reply the agent sends from the ticket's reply box: its action goes with the inserted text.
  const replyAction = actions.find((a) => a.confirm?.operation === "post_reply");
  if (result.skill === "reply_suggestion") parts.push(replyDraft(replyAction?.draft || data.draft || result.answer, replyAction, options));
  const cards = actions.filter((a) => !(a === replyAction && options.replyBox));
  const cardOptions = { ...options, citations };
  if (cards.length) parts.push(h("div", { class: "actions" }, cards.map((a) => actionCard(a, cardOptions))));
  if (citations.length) parts.push(citationList(citations));
  if (result.trace_id) {
    text.closest("[data-testid=copilot-message]")?.setAttribute("data-trace-id", result.trace_id);
    parts.push(feedbackBar(result.trace_id));
  }
  extras.replaceChildren(...parts);
  if (options.embedded) {
    // Inside a host page's frame a source opens in its own tab, leaving the host page where it was.
    for (const link of [...text.querySelectorAll("a[href]"), ...extras.querySelectorAll("a[href]")]) {
      link.target = "_blank";
      link.rel = "noopener";
    }
  }
}

function uniqueCitations(citations) {
  const seen = new Map();
  for (const c of citations) {
    const href = citationHref(c);
    const key = href || c.id;
    if (!seen.has(key)) seen.set(key, { ...c, href, n: seen.size + 1 });
  }
  return [...seen.values()];
}

function findCitation(citations, marker) {
  const href = citationHref({ id: marker, type: marker.startsWith("kb:") ? "kb" : "crm" });
  return citations.find((c) => c.href && c.href === href);
}

/** The answer as text, its [crm:…] markers turned into small numbered links to the cited source. */
function answerWithMarkers(answer, citations) {
  const out = [];
  let last = 0;
  for (const match of answer.matchAll(MARKER)) {
    out.push(answer.slice(last, match.index));
    const cite = findCitation(citations, match[1]);
    if (cite) out.push(h("a", { class: "marker", href: cite.href, title: cite.title, "aria-label": `来源：${cite.title}` }, `[${cite.n}]`));
    last = match.index + match[0].length;
  }
  out.push(answer.slice(last));
  return out;
}

function citationList(citations) {
  return h("details", { class: "citations", open: true },
    h("summary", {}, `来源（${citations.length}）`),
    h("ol", {}, citations.map((c) => {
      const kind = parseCitation(c).kind === "kb" ? "知识库" : "CRM";
      return h("li", {},
        c.href
          ? h("a", { href: c.href, testid: "copilot-citation", title: `${kind}：${c.title}` }, c.title || c.id)
          : h("span", {}, c.title || c.id),
        h("span", { class: "muted tag" }, kind));
    })));
}

function copyButton(getText, testid, label = "复制") {
  const button = h("button", { type: "button", class: "secondary small", testid }, label);
  button.addEventListener("click", async () => {
    const ok = await copyText(getText());
    button.textContent = ok ? "已复制 ✓" : "复制失败";
    setTimeout(() => { button.textContent = label; }, 1500);
  });
  return button;
}

const ACTION_KIND_NAMES = {
  log_activity: "记录跟进", follow_up: "记录跟进", create_task: "创建任务", add_collaborator: "添加协作人",
  post_reply: "回复工单", ticket_reply: "回复工单", reply_ticket: "回复工单", post_ticket_reply: "回复工单",
};

function actionCard(action, options) {
  const draftId = `draft-${action.id || Math.random().toString(36).slice(2)}`;
  const draft = action.draft
    ? h("textarea", { id: draftId, class: "draft", rows: Math.min(8, Math.ceil(action.draft.length / 30) + 1), "aria-label": "草稿（可编辑）" })
    : null;
  if (draft) draft.value = action.draft;
  const status = h("p", { class: "status", role: "status" });
  const confirm = h("button", { type: "button", class: "primary small", testid: "action-confirm" }, confirmLabel(action));
  const dismiss = h("button", { type: "button", class: "link small" }, "忽略");
  if (!action.id || !action.confirm) {
    confirm.disabled = true;
    confirm.title = "这条建议不能直接执行";
  }
  const card = h("article", { class: "action-card", testid: "action-card", "data-kind": action.kind || "" },
    h("h3", {}, action.title || "建议"),
    action.reason ? h("p", { class: "reason" }, action.reason) : null,
    evidenceLinks(action, options),
    action.confirm?.due_date ? h("p", { class: "muted" }, `截止日期：${action.confirm.due_date}`) : null,
    action.confirm?.user_name ? h("p", { class: "muted" }, `协作人：${action.confirm.user_name}`) : null,
    draft ? h("label", { for: draftId, class: "muted small-label" }, `草稿${action.channel ? "（" + (CHANNEL_NAMES[action.channel] || action.channel) + "）" : ""}`) : null,
    draft,
    h("div", { class: "card-row" },
      draft ? copyButton(() => draft.value, "draft-copy") : null,
      confirm, dismiss),
    status);
  confirm.addEventListener("click", async () => {
    confirm.disabled = dismiss.disabled = true;
    status.textContent = "正在执行…";
    try {
      const body = draft && draft.value !== action.draft ? { draft: draft.value } : {};
      const answer = await api(`/v1/actions/${encodeURIComponent(action.id)}/confirm`, { method: "POST", body });
      status.textContent = "已完成 ✓ " + describeRecord(answer?.record);
      card.classList.add("done");
      if (draft) draft.readOnly = true;
      options.onRecordChanged?.(answer?.record, action);
    } catch (err) {
      status.textContent = "";
      status.append(h("span", { class: "error", role: "alert" }, errorMessage(err)));
      confirm.disabled = dismiss.disabled = false;
    }
  });
  dismiss.addEventListener("click", async () => {
    confirm.disabled = dismiss.disabled = true;
    try {
      if (action.id) await api(`/v1/actions/${encodeURIComponent(action.id)}/dismiss`, { method: "POST", body: {} });
      card.classList.add("dismissed");
      status.textContent = "已忽略";
    } catch (err) {
      status.replaceChildren(h("span", { class: "error", role: "alert" }, errorMessage(err)));
      confirm.disabled = dismiss.disabled = false;
    }
  });
  return card;
}

/** The records an action rests on, as links (its evidence ids are citations of the same answer). */
function evidenceLinks(action, options) {
  const refs = (action.evidence || []).map((id) => options.citations?.find((c) => c.id === id || c.href === citationHref({ id, type: "crm" }))).filter(Boolean);
  if (!refs.length) return null;
  return h("p", { class: "evidence muted" }, "依据：", refs.map((c, i) => [i ? "、" : "", h("a", { href: c.href }, c.title)]));
}

function confirmLabel(action) {
  const write = action.confirm || {};
  if (write.label) return write.label;
  const kind = write.operation || action.operation;
  return kind && ACTION_KIND_NAMES[kind] ? `确认：${ACTION_KIND_NAMES[kind]}` : "确认";
}

function describeRecord(record) {
  if (!record) return "";
  const names = { activity: "跟进记录", task: "任务", ticket_message: "工单回复", record_team_member: "协作人" };
  return `（${names[record.object_type] || record.object_type} #${record.id}）`;
}

function replyDraft(text, action, options) {
  const box = h("div", { class: "reply-draft" },
    h("p", { class: "muted small-label" }, "建议回复"),
    h("div", { class: "draft-text" }, text),
    h("div", { class: "card-row" },
      copyButton(() => text, "draft-copy"),
      options.replyBox
        ? h("button", { type: "button", class: "primary small", testid: "reply-insert",
            onclick: (e) => { options.replyBox.insert(text, action); e.target.textContent = "已插入回复框 ✓"; } }, "插入回复框")
        : null));
  return box;
}

function variantCard(channel, variant, i) {
  const fields = Object.entries(variant).filter(([, v]) => typeof v === "string");
  return h("article", { class: "variant" },
    h("h4", {}, `版本 ${i + 1}`),
    fields.map(([field, value]) => h("div", { class: "field" },
      fields.length > 1 ? h("span", { class: "muted" }, (FIELD_NAMES[field] || field) + "：") : null,
      h("span", { class: "value" }, value))),
    h("div", { class: "card-row" },
      copyButton(() => fields.map(([, v]) => v).join("\n"), "draft-copy"),
      channel === "sms" && variant.body ? h("span", { class: "muted" }, `${variant.body.length} 字`) : null));
}

/** One column per channel, side by side (they wrap under each other on a narrow panel). */
function variantsView(data) {
  const channels = (data.channels || Object.keys(data.by_channel)).filter((ch) => data.by_channel[ch]);
  return h("div", { class: "variants" }, channels.map((channel) =>
    h("section", { class: "channel", "aria-label": CHANNEL_NAMES[channel] || channel, "data-channel": channel },
      h("h3", {}, CHANNEL_NAMES[channel] || channel),
      data.by_channel[channel].map((variant, i) => variantCard(channel, variant, i)))));
}

function sourceLink(source) {
  if (!source) return null;
  return h("span", { class: "muted" }, "（依据 ", h("a", { href: `/records/kb/${encodeURIComponent(source)}` }, source), "）");
}

/** What the ad-law check changed and why: the compliance report and the skill's notes. */
function wordingCheck(data, result) {
  const compliance = data.compliance || {};
  const rewritten = compliance.rewritten || [];
  const flagged = compliance.flagged || [];
  const notes = data.notes || [];
  const items = [];
  // One line per term, whichever variants it was found in (the report has one entry per variant).
  const changes = new Map();
  for (const r of rewritten) {
    const key = `${r.term}\u0000${r.replacement || ""}`;
    const seen = changes.get(key);
    if (seen) seen.count += Number(r.count || 1);
    else changes.set(key, { ...r, count: Number(r.count || 1) });
  }
  for (const r of changes.values()) {
    items.push(h("li", { class: "changed" },
      h("del", {}, r.term), " → ", h("ins", {}, r.replacement || "（删除）"),
      r.count > 1 ? ` ×${r.count}` : "", sourceLink(r.source)));
  }
  const reviews = new Map();
  for (const f of flagged) if (!reviews.has(f.term)) reviews.set(f.term, f);
  for (const f of reviews.values()) {
    items.push(h("li", { class: "flagged" }, `需人工复核：“${f.term}”`, f.reason ? ` — ${f.reason}` : "", sourceLink(f.source)));
  }
  for (const note of notes) items.push(h("li", { class: "note" }, note));
  const review = (result.warnings || []).includes("compliance_review_needed");
  return h("section", { class: "wording-check", "aria-label": "措辞检查" },
    h("h3", {}, "措辞检查（广告法）"),
    items.length
      ? h("ul", {}, items)
      : h("p", { class: "muted" }, "没有发现需要修改的用语。"),
    review ? h("p", { class: "warning" }, "有需要人工复核的改动，发布前请确认。") : null);
}

function feedbackBar(traceId) {
  const up = h("button", { type: "button", class: "thumb", testid: "feedback-up", "aria-pressed": "false", title: "这条回答有帮助" }, "有帮助");
  const down = h("button", { type: "button", class: "thumb", testid: "feedback-down", "aria-pressed": "false", title: "这条回答没帮助" }, "没帮助");
  const comment = h("input", { type: "text", maxlength: 2000, placeholder: "补充说明（可选）", "aria-label": "反馈说明" });
  const save = h("button", { type: "button", class: "secondary small" }, "提交");
  const commentRow = h("div", { class: "feedback-comment", hidden: true }, comment, save);
  const status = h("span", { class: "muted", role: "status" });
  let rating = null;
  async function submit(value, withComment) {
    const body = { trace_id: traceId, rating: value };
    if (withComment && comment.value.trim()) body.comment = comment.value.trim();
    try {
      await api("/v1/feedback", { method: "POST", body });
      rating = value;
      up.setAttribute("aria-pressed", String(value === "up"));
      down.setAttribute("aria-pressed", String(value === "down"));
      status.textContent = withComment ? "已收到说明，谢谢" : "谢谢反馈";
      commentRow.hidden = false;
    } catch (err) {
      status.textContent = "反馈失败：" + err.message;
    }
  }
  up.addEventListener("click", () => submit("up", false));
  down.addEventListener("click", () => submit("down", false));
  save.addEventListener("click", () => rating && submit(rating, true));
  comment.addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); if (rating) submit(rating, true); } });
  return h("div", { class: "feedback" }, h("span", { class: "muted" }, "这条回答："), up, down, status, commentRow);
}
