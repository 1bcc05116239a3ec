// The panel alone, inside the widget's iframe (/embed?object_type=..&object_id=..). The host page's
// widget.js posts the host's signed assertion here (never in a URL); it is exchanged on this origin for a
// short-lived copilot token, kept in this frame's sessionStorage only.

import { api, exchange, session } from "./api.js";
import { h } from "./dom.js";
import { mountPanel } from "./panel.js";

export function startEmbed(root) {
  const params = new URLSearchParams(location.search);
  const objectType = params.get("object_type");
  const objectId = Number(params.get("object_id"));
  const context = objectType && objectId > 0 ? { object_type: objectType, object_id: objectId } : null;
  root.replaceChildren(h("p", { class: "muted", role: "status" }, "正在连接 Copilot…"));

  function refuse(message) {
    session.clear();
    root.replaceChildren(h("section", { class: "card refused", role: "alert", testid: "widget-error" },
      h("h2", {}, "Copilot 无法登录"), h("p", {}, message)));
    if (parent !== window) parent.postMessage({ type: "copilot:error", message }, "*");
  }

  async function start(assertion) {
    try {
      await exchange(assertion);
    } catch (err) {
      return refuse(err.status === 401 || err.status === 403
        ? `宿主系统提供的身份凭证无效或已过期：${err.message}`
        : `连接失败：${err.message}`);
    }
    let title = "";
    if (context) {
      try {
        const answer = await api(`/v1/records/${encodeURIComponent(context.object_type)}/${context.object_id}`);
        title = answer.subtitle ? `${answer.title} ${answer.subtitle}` : answer.title;
      } catch (err) {
        if (err.status === 403 || err.status === 404) {
          root.replaceChildren(h("section", { class: "card notfound", role: "alert" }, h("h2", {}, "未找到 / Not found"),
            h("p", {}, "这条记录不存在，或你没有权限查看。")));
          return;
        }
      }
    }
    mountPanel(root, { context, title, roles: session.user?.roles, embedded: true });
    parent.postMessage({ type: "copilot:ready" }, "*");
  }

  let started = false;
  window.addEventListener("message", (event) => {
    // Only the window that framed us hands over the assertion; the server checks its signature.
    if (event.source !== parent || started) return;
    const data = event.data || {};
    if (data.type === "copilot:assertion" && typeof data.assertion === "string") {
      started = true;
      start(data.assertion);
    }
  });
  if (parent === window) refuse("这个页面只能由 widget.js 嵌入到 CRM 页面中使用。");
  else parent.postMessage({ type: "copilot:hello" }, "*");
}
