// Small DOM helpers shared by the pages: element builder, problems beside fields, job views.
import { ApiError, follow, get, post, sourceName, upload } from "./api.js";
import { STUDIO_PAGES } from "./studios.js";

/** h("div", {class: "x", onclick: fn}, child, "text", [more]) */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(el.dataset, value);
    else if (name in el && typeof value !== "string") el[name] = value;
    else el.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

let uid = 0;
/** A labelled control: h-built input inside a .field with a slot for its problem. */
export function field(label, control, { name, hint } = {}) {
  control.id ||= `f${++uid}`;
  if (name) control.name = name;
  const error = h("p", { class: "error", id: `${control.id}-error`, role: "alert", hidden: true });
  control.setAttribute("aria-describedby", error.id);
  return h("div", { class: "field", dataset: { field: name || control.name || "" } },
    h("label", { for: control.id }, label), control, hint ? h("p", { class: "hint" }, hint) : null, error);
}

export function select(options, value) {
  return h("select", {}, options.map((o) => {
    const [v, text] = Array.isArray(o) ? o : [o, o];
    return h("option", { value: v, selected: v === value }, text);
  }));
}

export function announce(text) {
  const live = document.getElementById("live");
  if (live) live.textContent = text;
}

/** Clear a form's problems; show a new one beside each field it names, the rest on top. */
export function showProblem(form, err) {
  for (const slot of form.querySelectorAll(".error")) { slot.hidden = true; slot.textContent = ""; }
  for (const c of form.querySelectorAll("[aria-invalid]")) c.removeAttribute("aria-invalid");
  if (!err) return;
  if (!(err instanceof ApiError)) throw err;
  const banner = form.querySelector(".problem") || form.prepend(h("div", { class: "problem", role: "alert" })) || form.querySelector(".problem");
  let placed = false;
  for (const { field: name, message } of err.fields) {
    const key = String(name).split(/[.[]/)[0];
    const box = form.querySelector(`.field[data-field="${CSS.escape(key)}"]`);
    if (!box) continue;
    const slot = box.querySelector(".error");
    slot.textContent = `${err.problem.title}: ${message}`;
    slot.hidden = false;
    box.querySelector("input,select,textarea")?.setAttribute("aria-invalid", "true");
    placed = true;
  }
  banner.textContent = placed ? `${err.problem.title} — see the fields marked below.` : `${err.problem.title}: ${err.problem.detail || ""}`;
  banner.hidden = false;
  announce(banner.textContent);
}

/** The same problem placed beside one field (an answer naming none the form has), detail optional. */
export function fieldProblem(err, name, detail) {
  if (!(err instanceof ApiError)) return err;
  return new ApiError({ ...err.problem, field: name, errors: null, ...(detail ? { detail } : {}) });
}

export function clearProblem(form) {
  showProblem(form, null);
  const banner = form.querySelector(".problem");
  if (banner) banner.hidden = true;
}

export const bytes = (n) => n >= 1048576 ? `${(n / 1048576).toFixed(1)} MB` : `${Math.max(1, Math.round(n / 1024))} KB`;
export const when = (iso) => iso ? new Date(iso).toLocaleString() : "";

export function statusChip(status) {
  return h("span", { class: `chip ${status}` }, status);
}

export function progressBar(value, label) {
  return h("progress", { max: 1, value, "aria-label": label || "Progress" });
}

/** A busy indicator for a long action; returns a function that ends it. */
export function busy(button, text = "Working…") {
  const before = button.textContent;
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  button.textContent = text;
  return () => { button.disabled = false; button.removeAttribute("aria-busy"); button.textContent = before; };
}

/**
 * A live view of one job: status, progress bar and message from its event stream; on the end,
 * the job again (fresh output links) handed to onDone. Returns {el, stop}.
 */
export function jobPanel(job, { onDone, title } = {}) {
  const chip = statusChip(job.status);
  const bar = progressBar(job.progress || 0, "Job progress");
  const message = h("span", { class: "muted message" }, job.progress_message || "");
  const el = h("section", { class: "card job-live", dataset: { job: job.id }, "aria-label": title || "Job" },
    h("div", { class: "row" }, h("strong", {}, title || `${job.studio} job`), chip, h("code", { class: "muted" }, job.id.slice(0, 8))),
    bar, message);
  const setStatus = (status) => { chip.textContent = status; chip.className = `chip ${status}`; el.dataset.status = status; };
  setStatus(job.status);
  let stop = () => {};
  const finish = async () => {
    const fresh = await get(`/jobs/${job.id}`);
    setStatus(fresh.status);
    bar.value = fresh.status === "succeeded" ? 1 : bar.value;
    message.textContent = fresh.error ? `${fresh.error.title}: ${fresh.error.detail}` : fresh.progress_message;
    announce(`Job ${fresh.status}`);
    onDone?.(fresh);
  };
  if (["succeeded", "failed", "canceled", "expired"].includes(job.status)) finish();
  else {
    stop = follow(job.id, (event) => {
      const data = event.data || {};
      if (event.type === "job.progress") {
        bar.value = data.progress ?? bar.value;
        el.dataset.progress = String(bar.value);
        message.textContent = data.message || "";
      } else if (data.status) {
        setStatus(data.status);
      }
      if (["job.succeeded", "job.failed", "job.canceled"].includes(event.type)) finish();
    });
  }
  return { el, stop: () => stop() };
}

/** The studios an image output can be taken into, by page: those whose request has an ``image`` (by asset id). */
export const USE_IN = STUDIO_PAGES.filter((s) => s.images.includes("image")).map((s) => [s.name, s.title]);

/** "Use in Edit / Upscale / …": links that open the studio with this output as its image. */
export function useIn(output) {
  return h("nav", { class: "row use-in", "aria-label": `Use ${output.name} in` }, h("span", { class: "muted" }, "Use in"),
    USE_IN.map(([page, name]) => h("a", { href: `#/${page}?asset=${encodeURIComponent(output.id)}`, class: "small", dataset: { use: page } }, name)));
}

/**
 * Every output of a job as a grid of cards: preview, name, size, bytes, a page's own details(output),
 * download link, a large view (with the input's `before` URL, a before/after slider) and "Use in".
 * Safe-zone previews sit with the output they overlay, not as cards of their own.
 */
export function outputsGrid(job, { label, details, before, only = () => true } = {}) {
  const simulated = new Map();
  for (const v of job.params?.results?.variations || []) simulated.set(v.output, v);
  const previews = new Map(job.outputs.filter((o) => o.kind === "preview" && o.metadata?.preview_of).map((o) => [o.metadata.preview_of, o]));
  const shown = job.outputs.filter((o) => only(o) && !(o.kind === "preview" && job.outputs.some((x) => x.name === o.metadata?.preview_of)));
  return h("ul", { class: "grid outputs", "aria-label": "Results" }, shown.map((o) => {
    const meta = { ...(simulated.get(o.name) || {}), ...(o.metadata || {}) };
    const image = o.content_type.startsWith("image/");
    const overlay = previews.get(o.name);
    const title = label ? label(o) : o.name;
    return h("li", { class: "card output", dataset: { name: o.name, asset: o.id } },
      image ? h("img", { src: o.url, alt: `${title} (${o.width}×${o.height})`, loading: "lazy" }) : h("div", { class: "file" }, o.format.toUpperCase()),
      h("div", { class: "meta" },
        h("strong", {}, title),
        o.width ? h("span", {}, `${o.width}×${o.height}`) : null,
        h("span", {}, bytes(o.bytes)),
        meta.provider ? h("span", {}, `${meta.provider}${meta.model ? ` · ${meta.model}` : ""}`) : null,
        meta.seed != null ? h("span", {}, `seed ${meta.seed}`) : null,
        meta.credits !== undefined ? h("span", {}, `${meta.credits} credits`) : null,
        meta.simulated ? h("span", { class: "chip simulated", title: "A stand-in from a simulated provider, not a real result" }, "simulated placeholder") : null,
        details ? details(o) : null),
      h("div", { class: "row" },
        h("a", { href: o.url, download: downloadName(job, o, label ? title : null), class: "button small", "aria-label": `Download ${title}` }, "Download"),
        image ? h("button", { type: "button", class: "ghost small view-large", onclick: () => openViewer(title, o.url, before) }, "View large") : null,
        overlay ? h("a", { href: overlay.url, class: "small", target: "_blank", rel: "noopener" }, "Safe-zone preview") : null),
      image && o.kind !== "preview" ? useIn(o) : null);
  }));
}

/**
 * A download's file name: the source file's name (when this browser sent the job) and the output's
 * label, with its extension: `coffee – Instagram Story 1080×1920.jpg`.
 */
export function downloadName(job, output, title) {
  const source = (sourceName(job.id) || job.source_names?.image || Object.values(job.source_names || {})[0])?.replace(/\.[^.]+$/, "");
  const name = title || (output.name === "compressed" || output.name === "converted" || output.name === "edited" ? job.studio : output.name);
  const ext = output.name.includes(".") && output.name.split(".").pop().length <= 4 && !title ? "" : `.${output.format === "jpeg" ? "jpg" : output.format}`;
  return `${source ? `${source} – ` : ""}${name}${ext}`;
}

/** A large view in a dialog: zoom, and with a `before` image a before/after slider. */
export function openViewer(title, url, before) {
  const close = h("button", { type: "button", class: "ghost small", onclick: () => dialog.close() }, "Close");
  const body = before ? beforeAfter(before, url) : zoomable(url, title);
  const dialog = h("dialog", { class: "viewer", "aria-label": `Large view: ${title}` },
    h("div", { class: "row" }, h("strong", {}, title), close), body);
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  return dialog;
}

/** One image with a zoom choice, scrolled to pan. */
function zoomable(url, title) {
  const stage = h("div", { class: "ba-stage" }, h("img", { src: url, alt: title }));
  const zoom = select([["1", "Fit"], ["1.5", "150%"], ["2", "200%"], ["4", "400%"]], "1");
  zoom.addEventListener("change", () => { stage.style.setProperty("--zoom", zoom.value); });
  return h("figure", { class: "before-after" }, h("div", { class: "ba-scroll", tabindex: 0, "aria-label": "Image, scroll to pan" }, stage), h("figcaption", {}, field("Zoom", zoom)));
}

/** Before/after: the two images stacked, a range input wipes between them; zoom with a select. */
export function beforeAfter(beforeUrl, afterUrl) {
  const after = h("img", { src: afterUrl, alt: "After" });
  const before = h("img", { src: beforeUrl, alt: "Before" });
  const clip = h("div", { class: "ba-before" }, before);
  const stage = h("div", { class: "ba-stage" }, after, clip);
  const slider = h("input", { type: "range", min: 0, max: 100, value: 50, "aria-label": "Before and after divider",
    oninput: () => { clip.style.setProperty("--cut", `${slider.value}%`); } });
  const zoom = select([["1", "100%"], ["1.5", "150%"], ["2", "200%"], ["3", "300%"]], "1");
  zoom.addEventListener("change", () => { stage.style.setProperty("--zoom", zoom.value); });
  return h("figure", { class: "before-after" }, h("div", { class: "ba-scroll", tabindex: 0, "aria-label": "Before and after, scroll to pan" }, stage),
    h("figcaption", { class: "row" }, slider, field("Zoom", zoom)));
}

/**
 * A job followed in an output area: its live panel in view, then (for a job that changes one image,
 * `before` its input's URL) a before/after and every output. Returns stop.
 */
export function followJob(output, job, { title, before, details, label, only, onDone }) {
  const panel = jobPanel(job, { title, onDone: (fresh) => {
    const watching = inView(panel.el); // the user still looks at the progress (not scrolled away)
    const first = fresh.outputs.find((o) => o.content_type.startsWith("image/"));
    if (first && before) output.el.append(beforeAfter(before, first.url));
    output.el.append(fresh.outputs.length ? outputsGrid(fresh, { details, label, before, only }) : h("p", { class: "muted" }, "No outputs."));
    onDone?.(fresh);
    // The result takes the progress's place in view (on a phone it would land below the fold): the
    // first thing after the progress (a zip, a before/after or the results) down to the first image.
    const result = panel.el.nextElementSibling;
    const image = output.el.querySelector(".before-after, .output") || result;
    if (watching && result) bringIntoView(result, image);
    output.el.dispatchEvent(new CustomEvent("job-done", { detail: fresh }));
  } });
  output.progress(panel.el);
  return panel.stop;
}

/** The sticky header's bottom edge: what lies above it is hidden. */
const headerBottom = () => document.querySelector(".top")?.getBoundingClientRect().bottom ?? 0;

/** Whether the element's top part is inside the window, below the header. */
export function inView(el) {
  if (!el.isConnected) return false;
  const r = el.getBoundingClientRect();
  return r.height > 0 && r.top < innerHeight && r.bottom > headerBottom();
}

/**
 * Scroll just enough that the element's top shows below the header and, down to `last` (a later
 * element, the element itself by default), the first 160 pixels of `last` show too.
 */
export function bringIntoView(el, last = el) {
  const r = el.getBoundingClientRect();
  const end = last.getBoundingClientRect();
  const top = headerBottom();
  if (r.top >= top && Math.min(end.bottom, end.top + 160) <= innerHeight) return;
  scrollBy({ top: r.top - top - 8, behavior: "instant" });
}

/** A file picker that also takes drag and drop and paste; calls onFile(file). */
export function dropZone(onFile, label = "Image") {
  const input = h("input", { type: "file", accept: "image/*", onchange: () => input.files[0] && onFile(input.files[0]) });
  const zone = h("div", { class: "drop" }, field(label, input), h("p", { class: "hint" }, "or drop an image here, or paste one"));
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault(); zone.classList.remove("over");
    const file = e.dataTransfer.files[0]; if (file) onFile(file);
  });
  const onPaste = (e) => {
    if (!zone.isConnected) { document.removeEventListener("paste", onPaste); return; }
    const file = [...(e.clipboardData?.files || [])][0]; if (file) onFile(file);
  };
  document.addEventListener("paste", onPaste);
  zone.input = input;
  return zone;
}

/** Upload a file with a visible state; returns the upload. */
export async function uploadWithStatus(file, statusEl, uploadFn) {
  statusEl.textContent = `Uploading ${file.name}…`;
  const uploaded = await uploadFn(file);
  statusEl.textContent = `Uploaded ${file.name}: ${uploaded.width}×${uploaded.height}, ${bytes(uploaded.bytes)}`;
  return uploaded;
}

/**
 * One control per input a studio's catalogue declares (its type, enum, bounds, default): a file
 * input is an uploadPicker; an enum without a default offers a blank choice (the server's default).
 */
export function catalogueControl(name, spec, value = spec.default) {
  if (spec.type === "file") return uploadPicker();
  if (spec.enum) return select(value === undefined ? [["", "(default)"], ...spec.enum] : spec.enum, value ?? "");
  if (spec.type === "integer" || spec.type === "number") return h("input", { type: "number", min: spec.minimum, max: spec.maximum, step: spec.type === "integer" ? 1 : "any", value });
  if (spec.type === "boolean") return h("input", { type: "checkbox", checked: !!value });
  if (name.includes("prompt")) return h("textarea", { rows: 2, maxlength: spec.max_length });
  return h("input", { type: "text", value: value ?? "" });
}

/** The values of the catalogue controls in ``container`` by field name, blanks left out (upload ids for files). */
export function catalogueValues(container) {
  const body = {};
  for (const box of container.querySelectorAll(".field[data-field]")) {
    const c = box.querySelector("input,select,textarea");
    if (!c || !box.dataset.field) continue;
    const value = c.type === "checkbox" ? c.checked : c.type === "file" ? c.dataset.upload : c.value;
    if (value === "" || value === undefined) continue;
    body[box.dataset.field] = c.type === "number" ? Number(value) : value;
  }
  return body;
}

/** An image input uploaded when chosen: its upload id is the input's value (``data-upload``). */
export function uploadPicker() {
  const input = h("input", { type: "file", accept: "image/*" });
  input.addEventListener("change", async () => {
    delete input.dataset.upload;
    const box = input.closest(".field");
    const state = box.querySelector(".upload-state") || box.appendChild(h("p", { class: "hint upload-state", role: "status" }));
    if (!input.files[0]) return;
    try {
      input.dataset.upload = (await uploadWithStatus(input.files[0], state, upload)).id;
      input.dispatchEvent(new Event("uploaded", { bubbles: true }));
    } catch (err) {
      state.textContent = "";
      showProblem(input.form, fieldProblem(err, box.dataset.field));
    }
  });
  return input;
}

/**
 * The credits a studio job would cost, from /estimate-cost, kept current by refresh() (call it
 * when the form changes; `studio` a name, or a function for a page whose form picks it; an answer to an older call never overwrites a newer one). Returns {el, refresh}.
 */
export function costEstimate(studio, params) {
  const studioName = typeof studio === "function" ? studio : () => studio;
  const total = h("p", { class: "stat", id: "estimate", "aria-live": "polite" }, "—");
  const breakdown = h("p", { class: "muted", id: "estimate-breakdown" });
  let asked = 0;
  const refresh = async () => {
    const mine = ++asked;
    try {
      const e = await post("/estimate-cost", { studio: studioName(), params: params() });
      if (mine !== asked) return;
      total.textContent = `${e.total_credits} credits`;
      total.dataset.credits = String(e.total_credits);
      breakdown.textContent = (e.breakdown || []).map((i) => `${i.count} × ${i.item} @ ${i.unit_credits}`).join("; ");
    } catch (err) {
      if (mine !== asked) return;
      total.textContent = "—"; delete total.dataset.credits; breakdown.textContent = err.problem?.detail || "";
    }
  };
  return { el: h("div", { class: "card" }, h("div", { class: "muted" }, "Estimated cost"), total, breakdown), refresh };
}

/**
 * A "Load more" button over a cursor-paged list: load(true) starts again from the first page.
 * Only the newest load's answer is shown, so a slow answer to an older filter never wins.
 */
export function pager(path, params, onPage) {
  let cursor = null;
  let asked = 0;
  const more = h("button", { type: "button", class: "ghost", hidden: true }, "Load more");
  const load = async (reset) => {
    const mine = ++asked;
    const query = params();
    if (!reset && cursor) query.set("cursor", cursor);
    const page = await get(`${path}?${query}`);
    if (mine !== asked) return;
    onPage(page, reset);
    cursor = page.next_cursor;
    more.hidden = !cursor;
  };
  more.addEventListener("click", () => load(false));
  return { more, load };
}

/** A secret shown once: the value, a copy button and the warning that it will not be shown again. */
export function secretOnce(title, secret) {
  const value = h("code", { class: "secret" }, secret);
  const copy = h("button", { type: "button", class: "ghost small", onclick: async () => {
    try { await navigator.clipboard.writeText(secret); copy.textContent = "Copied"; } catch { copy.textContent = "Select and copy it"; }
  } }, "Copy");
  return h("div", { class: "card secret-once", role: "status" },
    h("strong", {}, title), h("div", { class: "row" }, value, copy),
    h("p", { class: "hint" }, "Copy it now: it is not shown again."));
}
