// The copilot's public HTTP API, as the web app and the widget use it. The token lives in
// sessionStorage: gone when the tab closes, never sent anywhere but this origin.

const TOKEN_KEY = "copilot-token";
const USER_KEY = "copilot-user";

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export const session = {
  get token() { return sessionStorage.getItem(TOKEN_KEY) || ""; },
  get user() {
    try { return JSON.parse(sessionStorage.getItem(USER_KEY) || "null"); } catch (_) { return null; }
  },
  save(token, user) {
    sessionStorage.setItem(TOKEN_KEY, token);
    sessionStorage.setItem(USER_KEY, JSON.stringify(user || null));
  },
  clear() {
    sessionStorage.removeItem(TOKEN_KEY);
    sessionStorage.removeItem(USER_KEY);
  },
};

function headers(extra = {}) {
  const out = { "Accept": "application/json", ...extra };
  if (session.token) out["Authorization"] = "Bearer " + session.token;
  return out;
}

export async function errorOf(response) {
  try {
    const body = await response.json();
    const err = body.error || body;
    const message = err.message || err.detail || err.title || response.statusText;
    return new ApiError(response.status, err.code || String(response.status), String(message));
  } catch (_) {
    return new ApiError(response.status, String(response.status), response.statusText || "request failed");
  }
}

/** JSON request; throws ApiError on a non-2xx answer. `body` is sent as JSON. */
export async function api(path, { method = "GET", body, query } = {}) {
  let url = path;
  if (query) {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== "") params.set(k, v);
    const qs = params.toString();
    if (qs) url += (url.includes("?") ? "&" : "?") + qs;
  }
  const init = { method, headers: headers(body !== undefined ? { "Content-Type": "application/json" } : {}) };
  if (body !== undefined) init.body = JSON.stringify(body);
  let response;
  try {
    response = await fetch(url, init);
  } catch (err) {
    throw new ApiError(0, "network", "无法连接服务 / cannot reach the service: " + err.message);
  }
  if (!response.ok) throw await errorOf(response);
  if (response.status === 204) return null;
  return response.json();
}

/** Server-Sent Events over a POST (EventSource only does GET): yields {event, data}. */
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
      let event = "message";
      const data = [];
      for (const line of raw.split("\n")) {
        if (line.startsWith("event:")) event = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      }
      if (data.length) yield { event, data: data.join("\n") };
    }
  }
}

/**
 * One streamed copilot turn. `on.meta({skill, trace_id})`, `on.delta(text)`, `on.result(result)`;
 * resolves with the result; throws ApiError for a refused request or an `error` event.
 */
export async function assistStream(body, on = {}) {
  let response;
  try {
    response = await fetch("/v1/assist", {
      method: "POST",
      headers: headers({ "Content-Type": "application/json", "Accept": "text/event-stream" }),
      body: JSON.stringify({ ...body, stream: true }),
    });
  } catch (err) {
    throw new ApiError(0, "network", "无法连接服务 / cannot reach the service: " + err.message);
  }
  if (!response.ok) throw await errorOf(response);
  let result = null;
  let failure = null;
  for await (const { event, data } of sseEvents(response)) {
    let payload;
    try { payload = JSON.parse(data); } catch (_) { payload = { text: data }; }
    if (event === "meta") on.meta?.(payload);
    else if (event === "delta") on.delta?.(payload.text || "");
    else if (event === "result") { result = payload; on.result?.(payload); }
    else if (event === "error") {
      const err = payload.error || payload;
      failure = new ApiError(500, err.code || "stream_error", err.message || "the answer failed");
    }
  }
  if (result) return result;
  throw failure || new ApiError(0, "stream_incomplete", "回答中断 / the answer stopped before it finished");
}

export async function login(username, password) {
  const answer = await api("/v1/auth/login", { method: "POST", body: { username, password } });
  session.save(answer.token || answer.access_token, answer.user || { username });
  return answer;
}

export async function exchange(assertion) {
  const answer = await api("/v1/auth/exchange", { method: "POST", body: { assertion } });
  session.save(answer.token || answer.access_token, answer.user || null);
  return answer;
}

/** "crm:opportunity:12" → {objectType: "opportunity", id: 12}; "kb:doc-id" or a kb citation → {docId}. */
export function parseCitation(citation) {
  const id = String(citation.id || "");
  const crm = /^crm:([a-z_]+):(\d+)$/.exec(id);
  if (crm) return { kind: "crm", objectType: crm[1], objectId: Number(crm[2]) };
  if (citation.type === "kb" || id.startsWith("kb:")) {
    const docId = (citation.doc_id || id.replace(/^kb:/, "")).split("#")[0];
    return { kind: "kb", docId };
  }
  return { kind: "other" };
}

export function citationHref(citation) {
  const ref = parseCitation(citation);
  if (ref.kind === "crm") return `/records/${encodeURIComponent(ref.objectType)}/${ref.objectId}`;
  if (ref.kind === "kb") return `/records/kb/${encodeURIComponent(ref.docId)}`;
  return null;
}
