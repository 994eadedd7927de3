// The public API, as any client uses it: a Bearer key, JSON bodies, problem+json errors, SSE.
export const API = "/api/image-studio";
const KEY = "imagestudio.key";

export const key = {
  get: () => sessionStorage.getItem(KEY),
  set: (value) => sessionStorage.setItem(KEY, value),
  clear: () => sessionStorage.removeItem(KEY),
};

/** An RFC 9457 problem answered by the API (or a network failure dressed as one). */
export class ApiError extends Error {
  constructor(problem) {
    super(problem.detail || problem.title);
    this.problem = problem;
  }
  get status() { return this.problem.status; }
  /** Every field the problem names, with its message. */
  get fields() {
    const list = this.problem.errors ? [...this.problem.errors] : [];
    if (!list.length && this.problem.field) list.push({ field: this.problem.field, message: this.problem.detail });
    return list;
  }
}

export async function request(path, { method = "GET", body, form, signal, headers = {} } = {}) {
  const init = { method, signal, headers: { ...headers, Authorization: `Bearer ${key.get() || ""}` } };
  if (form) init.body = form;
  else if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  let response;
  try {
    response = await fetch(API + path, init);
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError({ title: "Network error", status: 0, detail: "The gateway could not be reached." });
  }
  if (response.status === 204) return null;
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = { title: response.statusText, detail: text }; }
  if (!response.ok) {
    throw new ApiError({ status: response.status, title: response.statusText, ...(data || {}) });
  }
  return data;
}

let spec;
/** The API's own OpenAPI document, read once: lists such as the studios come from it, not from a copy here. */
export const openapi = () => (spec ??= fetch("/openapi.json").then((r) => r.json()));

export const get = (path, options) => request(path, options);
export const post = (path, body, options = {}) => request(path, { ...options, method: "POST", body });

/** Send a file once; studios then name it by its upl_ id. */
export async function upload(file) {
  const form = new FormData();
  form.append("file", file, file.name || "image.png");
  return request("/uploads", { method: "POST", form });
}

/**
 * Follow a job's events. EventSource cannot send a Bearer header, so this reads the stream with
 * fetch, resuming after the last event id when the stream ends before the job does.
 * Returns a function that stops following.
 */
export function follow(jobId, onEvent) {
  const controller = new AbortController();
  let last = 0;
  let stopped = false;
  (async () => {
    for (let round = 0; round < 100 && !stopped; round++) {
      let response;
      try {
        response = await fetch(`${API}/jobs/${jobId}/events?after=${last}`, {
          headers: { Authorization: `Bearer ${key.get() || ""}`, Accept: "text/event-stream" },
          signal: controller.signal,
        });
      } catch { if (stopped) return; await pause(2000); continue; }
      if (response.status === 204) return;
      if ([401, 403, 404].includes(response.status)) return; // key revoked or job gone: retrying won't help
      if (!response.ok) { await pause(2000); continue; }
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      let terminal = false;
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let cut;
          while ((cut = buffer.indexOf("\n\n")) >= 0) {
            const frame = buffer.slice(0, cut);
            buffer = buffer.slice(cut + 2);
            const event = parseFrame(frame);
            if (!event) continue;
            if (event.id) last = Number(event.id);
            if (event.type === "stream.closed") continue;
            const data = JSON.parse(event.data);
            onEvent(data);
            if (["job.succeeded", "job.failed", "job.canceled"].includes(data.type)) terminal = true;
          }
        }
      } catch { if (stopped) return; }
      if (terminal) return;
    }
  })();
  return () => { stopped = true; controller.abort(); };
}

function parseFrame(frame) {
  const event = { data: "" };
  for (const line of frame.split("\n")) {
    if (!line || line.startsWith(":")) continue;
    const at = line.indexOf(":");
    const name = at < 0 ? line : line.slice(0, at);
    const value = at < 0 ? "" : line.slice(at + 1).replace(/^ /, "");
    if (name === "data") event.data += value;
    else if (name === "event") event.type = value;
    else if (name === "id") event.id = value;
  }
  return event.data ? event : null;
}

const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const SENT = "imagestudio.sent";
/**
 * Submit a studio job and remember what was sent, so "run again" can send exactly that. Kept in
 * localStorage (the newest 200), so a job sent from another tab of this browser can be run again.
 */
export async function submit(path, body) {
  const job = await post(path, body);
  const sent = JSON.parse(localStorage.getItem(SENT) || "{}");
  sent[job.id] = { path, body };
  const ids = Object.keys(sent);
  for (const old of ids.slice(0, Math.max(0, ids.length - 200))) delete sent[old];
  localStorage.setItem(SENT, JSON.stringify(sent));
  return job;
}

const NAMES = "imagestudio.source-names";
/** Remember the file name an upload came from (the API keeps no name), for output names. */
export function nameUpload(uploadId, name) {
  const names = JSON.parse(localStorage.getItem(NAMES) || "{}");
  names[uploadId] = name;
  const ids = Object.keys(names);
  for (const old of ids.slice(0, Math.max(0, ids.length - 200))) delete names[old];
  localStorage.setItem(NAMES, JSON.stringify(names));
}

/** The file name a job's input image came from, when this browser sent it. */
export function sourceName(jobId) {
  const image = sentFor(jobId)?.body?.image;
  return image ? JSON.parse(localStorage.getItem(NAMES) || "{}")[image] || null : null;
}

/** What was sent for a job from this browser, if it was. */
export function sentFor(jobId) {
  return JSON.parse(localStorage.getItem(SENT) || "{}")[jobId] || null;
}
