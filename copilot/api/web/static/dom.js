// Small DOM helpers. Everything from the server goes in as text (textContent / attributes), never as
// HTML, so a record's or an answer's content cannot inject markup into the page.

/** h("a", {href: "/x", class: "c", testid: "t", onclick: f}, "text", child...) */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "testid") el.dataset.testid = value;
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export const $ = (selector, root = document) => root.querySelector(selector);

/** Ctrl+Enter / ⌘+Enter on a textarea runs `send`. */
export function sendOnModEnter(textarea, send) {
  textarea.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      send();
    }
  });
}

/** Copy text to the clipboard; falls back to a selected textarea where the async API is refused. */
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch (_) {
    const area = h("textarea", { class: "offscreen", "aria-hidden": "true" });
    area.value = text;
    document.body.append(area);
    area.select();
    const ok = document.execCommand("copy");
    area.remove();
    return ok;
  }
}

/**
 * A KB article's Markdown as DOM: headings, lists, paragraphs and **bold**, every piece as text nodes
 * (no HTML is parsed, so an article cannot inject markup). Anything else stays as written.
 */
export function markdownBlocks(text) {
  const out = [];
  let list = null;
  let para = [];
  const inline = (line) => line.split(/\*\*(.+?)\*\*/g).map((part, i) => (i % 2 ? h("strong", {}, part) : part));
  const flush = () => {
    if (para.length) out.push(h("p", {}, para.flatMap((l, i) => (i ? [h("br"), ...inline(l)] : inline(l)))));
    para = [];
  };
  let table = null;
  for (const raw of String(text).split("\n")) {
    const line = raw.trimEnd();
    if (/^\s*\|.*\|\s*$/.test(line)) {
      // A Markdown table: the first row is the header, the |---| row is dropped.
      flush();
      list = null;
      const cells = line.trim().slice(1, -1).split("|").map((c) => c.trim());
      if (cells.every((c) => /^:?-{2,}:?$/.test(c))) continue;
      if (!table) { table = h("table", { class: "md-table" }, h("thead", {}, h("tr", {}, cells.map((c) => h("th", {}, inline(c))))), h("tbody")); out.push(table); }
      else table.tBodies[0].append(h("tr", {}, cells.map((c) => h("td", {}, inline(c)))));
      continue;
    }
    table = null;
    const heading = /^(#{1,6})\s+(.*)$/.exec(line);
    const bullet = /^\s*[-*]\s+(.*)$/.exec(line);
    const numbered = /^\s*\d+[.)]\s+(.*)$/.exec(line);
    if (heading || !line.trim()) { flush(); list = null; }
    if (heading) out.push(h(heading[1].length <= 2 ? "h2" : "h3", {}, inline(heading[2])));
    else if (bullet || numbered) {
      flush();
      const tag = bullet ? "ul" : "ol";
      if (!list || list.tagName.toLowerCase() !== tag) { list = h(tag); out.push(list); }
      list.append(h("li", {}, inline((bullet || numbered)[1])));
    } else if (line.trim()) { list = null; para.push(line); }
  }
  flush();
  return out;
}
