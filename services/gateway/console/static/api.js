// The public API with the person's key. The key lives only in this browser: sessionStorage
// by default, localStorage when they ask to be remembered; the server stores nothing more.
const KEY_NAME = "tuneloop.key";

export function getKey() {
  return sessionStorage.getItem(KEY_NAME) || localStorage.getItem(KEY_NAME) || "";
}

export function setKey(key, remember) {
  clearKey();
  (remember ? localStorage : sessionStorage).setItem(KEY_NAME, key);
}

export function clearKey() {
  sessionStorage.removeItem(KEY_NAME);
  localStorage.removeItem(KEY_NAME);
}

// An HTTP failure, carrying the API's own message from the OpenAI error envelope.
export class ApiError extends Error {
  constructor(status, error) {
    super(error.message || `HTTP ${status}`);
    this.status = status;
    this.type = error.type;
    this.code = error.code;
    this.param = error.param;
  }
}

async function failure(response) {
  let error = { message: `HTTP ${response.status} ${response.statusText}` };
  try {
    const body = await response.json();
    if (body && body.error) error = body.error;
  } catch {
    // Not JSON (a proxy's HTML page, say): keep the status line as the message.
  }
  return new ApiError(response.status, error);
}

// One request; `body` is JSON unless it is FormData. Resolves to the parsed JSON, or to
// the Response itself with `raw` (file contents, CSV, HTML reports).
export async function api(method, path, body, { raw = false } = {}) {
  const headers = { Authorization: `Bearer ${getKey()}` };
  const init = { method, headers };
  if (body instanceof FormData) {
    init.body = body;
  } else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, { message: `The gateway cannot be reached (${err.message}).` });
  }
  if (!response.ok) throw await failure(response);
  return raw ? response : response.json();
}

export const get = (path) => api("GET", path);
export const post = (path, body = {}) => api("POST", path, body);

export function query(path, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null) q.set(k, v);
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

export async function uploadFile(file, purpose) {
  const form = new FormData();
  form.append("purpose", purpose);
  form.append("file", file, file.name);
  return api("POST", "/v1/files", form);
}

// Every item of a list endpoint, following `has_more` with the `after` cursor.
export async function listAll(path, params = {}, max = 1000) {
  const items = [];
  let after;
  for (;;) {
    const page = await get(query(path, { ...params, limit: 100, after }));
    items.push(...page.data);
    if (!page.has_more || !page.data.length || items.length >= max) return items;
    after = page.data[page.data.length - 1].id;
  }
}

// A fetched body saved as a file by the browser (downloads need the key, so no plain link).
export async function download(path, filename) {
  const response = await api("GET", path, undefined, { raw: true });
  const url = URL.createObjectURL(await response.blob());
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

// Opens an HTML document the API serves (a report) in a new tab, key included.
export async function openHtml(path) {
  const response = await api("GET", path, undefined, { raw: true });
  const blob = new Blob([await response.text()], { type: "text/html" });
  window.open(URL.createObjectURL(blob), "_blank", "noopener");
}

export const FINISHED = new Set(["succeeded", "failed", "cancelled"]);

// The events of a Tuneloop job (oldest first, `after` cursor): each call fetches only what
// is new since the last and resolves to all of them so far.
export function eventFeed(jobPath) {
  const all = [];
  let after;
  return async () => {
    for (;;) {
      const page = await get(query(`${jobPath}/events`, { limit: 100, after }));
      all.push(...page.data);
      if (page.data.length) after = page.data[page.data.length - 1].id;
      if (!page.has_more) return all;
    }
  };
}

// A fine-tuning job's events, oldest first. The API lists them newest first (OpenAI's
// order), so each call fetches pages until one already seen: one request per poll.
export function fineTuningEventFeed(jobId) {
  const all = [];
  const seen = new Set();
  return async () => {
    const fresh = [];
    let after;
    for (;;) {
      const page = await get(query(`/v1/fine_tuning/jobs/${jobId}/events`, { limit: 100, after }));
      const unseen = page.data.filter((e) => !seen.has(e.id));
      fresh.push(...unseen);
      if (!page.has_more || unseen.length < page.data.length || !page.data.length) break;
      after = page.data[page.data.length - 1].id;
    }
    fresh.forEach((e) => seen.add(e.id));
    all.push(...fresh.reverse());
    return all;
  };
}

// The models that answer chat: bases and adapters, not the embedding model.
export async function chatModels() {
  return (await listAll("/v1/models")).filter((m) => m.kind !== "embedding");
}
