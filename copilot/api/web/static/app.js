// CRM Copilot test page: calls the public API with the pasted token. Everything the server returns is
// put on the page as text (textContent), never as HTML, so an answer cannot inject markup.
"use strict";

const $ = (id) => document.getElementById(id);
// sessionStorage: the token is gone when the tab closes, and other sites never see it.
$("token").value = sessionStorage.getItem("copilot-token") || "";

function headers() {
  return { "Authorization": "Bearer " + $("token").value.trim(), "Content-Type": "application/json" };
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

async function errorText(response) {
  try {
    const body = await response.json();
    return `${response.status} ${body.error.code}: ${body.error.message}`;
  } catch (_) {
    return `${response.status} ${response.statusText}`;
  }
}

async function connect() {
  showError("");
  sessionStorage.setItem("copilot-token", $("token").value.trim());
  const response = await fetch("/v1/skills", { headers: headers() });
  if (!response.ok) { $("who").textContent = ""; showError(await errorText(response)); return; }
  const { skills } = await response.json();
  const select = $("skill");
  select.length = 1;  // keep "(route automatically)"
  for (const s of skills) select.add(new Option(`${s.name} — ${s.title.zh || s.title.en || ""}`, s.name));
  $("who").textContent = `Token accepted: ${skills.length} skill(s) available to you.`;
}

function requestBody() {
  const body = { message: $("message").value, stream: true };
  const type = $("object_type").value, id = parseInt($("object_id").value, 10);
  if (type && id > 0) body.context = { object_type: type, object_id: id };
  if ($("skill").value) body.skill = $("skill").value;
  if ($("locale").value) body.locale = $("locale").value;
  return body;
}

// Server-Sent Events over a POST: EventSource only does GET, so read the stream and split the events.
async function* sseEvents(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true }).replace(/\r\n/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const raw = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = "message", data = [];
      for (const line of raw.split("\n")) {
        if (line.startsWith("event:")) event = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      }
      if (data.length) yield { event, data: data.join("\n") };
    }
  }
}

function renderResult(result) {
  $("answer").textContent = result.answer;
  $("meta").textContent = `skill: ${result.skill}` +
    (result.prompt ? ` · prompt ${result.prompt.id}@${result.prompt.version}` : "") +
    ` · trace ${result.trace_id}` + (result.degraded ? " · degraded (offline answer)" : "");
  const cites = $("citations");
  cites.replaceChildren(...(result.citations || []).map((c) => {
    const li = document.createElement("li");
    li.textContent = `${c.title} (${c.type}:${c.id})`;
    return li;
  }));
  const actions = $("actions");
  actions.replaceChildren(...(result.actions || []).map((a) => {
    const li = document.createElement("li");
    li.textContent = a.title + (a.reason ? ` — ${a.reason}` : "");
    if (a.draft) {
      const pre = document.createElement("div");
      pre.className = "draft";
      pre.textContent = a.draft;
      li.append(pre);
    }
    return li;
  }));
  $("warnings").textContent = (result.warnings || []).length ? "warnings: " + result.warnings.join(", ") : "";
}

async function ask(event) {
  event.preventDefault();
  showError("");
  $("send").disabled = true;
  try {
    const response = await fetch("/v1/assist", { method: "POST", headers: headers(), body: JSON.stringify(requestBody()) });
    if (!response.ok) { showError(await errorText(response)); return; }
    $("out").hidden = false;
    $("answer").textContent = "";
    $("citations").replaceChildren();
    $("actions").replaceChildren();
    $("meta").textContent = "…";
    for await (const { event: name, data } of sseEvents(response)) {
      if (name === "meta") $("meta").textContent = `skill: ${JSON.parse(data).skill} …`;
      else if (name === "delta") $("answer").textContent += JSON.parse(data).text;
      else if (name === "result") renderResult(JSON.parse(data));
    }
  } catch (err) {
    showError(String(err));
  } finally {
    $("send").disabled = false;
  }
}

$("connect").addEventListener("click", connect);
$("ask").addEventListener("submit", ask);
