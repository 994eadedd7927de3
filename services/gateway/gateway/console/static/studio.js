// What every studio page shares: the two-column layout with an output area that is never empty,
// the image input (a file, or an earlier output by asset id), state kept across navigation, and
// "Copy as curl / Python / TypeScript" built from the request the page sends.
import { API, get, nameUpload, post, submit, upload } from "./api.js";
import { busy, bytes, clearProblem, dropZone, followJob, h, showProblem } from "./ui.js";

/**
 * The output column: a hint until an image is chosen, then its preview, then the job's progress in
 * place (scrolled into view), then the results. `id="results"` so a page's tests find it.
 */
export function outputArea(hint) {
  const el = h("section", { class: "output-area card stack", id: "results", "aria-label": "Output", tabindex: -1 },
    h("p", { class: "muted placeholder" }, hint));
  return {
    el,
    /** The chosen input, shown until a job starts. */
    preview(url, caption) {
      el.replaceChildren(h("figure", { class: "input-preview" },
        h("img", { src: url, alt: `Input: ${caption}` }), h("figcaption", { class: "muted" }, caption)));
    },
    /** A job's live panel replaces what was shown, and is brought into view on every screen size. */
    progress(panel) {
      el.replaceChildren(panel);
      panel.scrollIntoView({ block: "nearest" });
    },
  };
}

/** The page: a heading, the form on the left, the output on the right (stacked on a phone), and the studio's recent jobs. */
export function studioPage(view, title, form, output, studio) {
  view.append(h("h1", {}, title), h("div", { class: "studio" }, form, output.el));
  if (studio) {
    const strip = historyStrip(studio);
    view.append(strip.el);
    output.el.addEventListener("job-done", strip.refresh);
  }
}

/**
 * What every studio page ends with, so each page builds only its form: the page laid out, submit
 * sending `request()` (after `check(body)`, a problem shown instead of sending, and
 * `prepare(body)`, e.g. the edit mask's upload), the job kept across navigation and followed in the
 * output area with `followOptions(job)`. The page comes back with its last job, unless `?asset=`
 * names an image to bring in with `fromAsset`. Returns the page's stop.
 */
export async function studioJobs(view, { title, studio, form, output, go, request, followOptions, source, fromAsset, query, check, prepare }) {
  let stop = () => {};
  const kept = keepState(studio, form, source);
  const follow = (job) => { stop(); stop = followJob(output, job, followOptions(job)); };
  form.addEventListener("submit", async (e) => {
    e.preventDefault(); clearProblem(form);
    const { path, body } = request();
    const problem = check?.(body);
    if (problem) { showProblem(form, problem); return; }
    const done = busy(go, "Submitting…");
    try {
      await prepare?.(body);
      const job = await submit(path, body);
      kept.job(job.id);
      follow(job);
    } catch (err) { showProblem(form, err); } finally { done(); }
  });
  studioPage(view, title, form, output, studio);
  const asset = fromAsset && query?.get("asset");
  kept.restore(async (id) => { if (!asset) follow(await get(`/jobs/${id}`)); });
  if (asset) await fromAsset(asset);
  return () => stop();
}

/** The studio's last jobs as thumbnails linking to each job, refreshed when a job here ends. */
export function historyStrip(studio) {
  const list = h("ul", { class: "row plain history", "aria-label": `Recent ${studio} jobs` });
  const el = h("section", { class: "history-strip", "aria-label": "History" }, h("h2", {}, "Recent jobs here"), list);
  const refresh = async () => {
    const { items } = await get(`/jobs?studio=${studio}&limit=8`);
    list.replaceChildren(...items.map((job) => {
      const thumb = job.outputs.find((o) => o.content_type.startsWith("image/") && o.kind !== "preview");
      return h("li", { dataset: { job: job.id } }, h("a", { href: `#/jobs/${job.id}`, title: `${job.status} · ${new Date(job.created_at).toLocaleString()}` },
        thumb ? h("img", { class: "thumb", src: thumb.url, alt: `${studio} job ${job.id.slice(0, 8)}` }) : h("span", { class: "chip" }, job.status)));
    }));
    el.hidden = !items.length;
  };
  refresh().catch(() => { el.hidden = true; });
  return { el, refresh };
}

/**
 * The image a studio works on: a file uploaded when chosen, or an earlier output named by asset id
 * (the server copies it into an upload, nothing is sent again). `onReady(upload, url, name)`.
 */
export function imageSource(form, output, onReady, label = "Image") {
  const status = h("p", { class: "muted", role: "status" });
  const state = { upload: null, url: null, name: null };
  const ready = (uploaded, url, name) => {
    Object.assign(state, { upload: uploaded, url, name });
    nameUpload(uploaded.id, name);
    form.dataset.upload = uploaded.id;
    status.textContent = `${name}: ${uploaded.width}×${uploaded.height}, ${bytes(uploaded.bytes)}`;
    if (url) output.preview(url, name);
    onReady?.(uploaded, url, name);
  };
  const zone = dropZone(async (file) => {
    status.textContent = `Uploading ${file.name}…`;
    try { ready(await upload(file), URL.createObjectURL(file), file.name); } catch (err) { status.textContent = ""; showProblem(form, err); }
  }, label);
  zone.dataset.field = "image";
  return {
    el: h("div", {}, zone, status),
    state,
    /** Take an earlier output (its asset id): an upload made from it on the server. */
    async fromAsset(assetId) {
      status.textContent = "Bringing in the earlier result…";
      try {
        const [asset, uploaded] = await Promise.all([get(`/assets/${assetId}`), post("/uploads", { asset_id: assetId })]);
        ready(uploaded, asset.url, asset.name);
      } catch (err) { status.textContent = ""; showProblem(form, err); }
    },
    /** Put back what a saved state held (the upload id stays valid for its time to live). */
    restore(saved) { if (saved?.upload) ready(saved.upload, saved.url, saved.name); },
  };
}

const STATE = (page) => `imagestudio.state.${page}`;

/** Every named control's value in a form (files excepted), by field name. */
function formValues(form) {
  const values = {};
  for (const c of form.querySelectorAll(".field[data-field] input, .field[data-field] select, .field[data-field] textarea, input[name]")) {
    const name = c.closest(".field[data-field]")?.dataset.field || c.name;
    if (!name || c.type === "file") continue;
    if (c.type === "checkbox") (values[`${name}:${c.value}`] = c.checked);
    else values[name] = c.value;
  }
  return values;
}

function putValues(form, values) {
  for (const c of form.querySelectorAll(".field[data-field] input, .field[data-field] select, .field[data-field] textarea, input[name]")) {
    const name = c.closest(".field[data-field]")?.dataset.field || c.name;
    if (!name || c.type === "file") continue;
    const value = c.type === "checkbox" ? values[`${name}:${c.value}`] : values[name];
    if (value === undefined) continue;
    if (c.type === "checkbox") c.checked = value; else c.value = value;
    c.dispatchEvent(new Event("change", { bubbles: true }));
  }
}

/**
 * Keep a page's form, image and last job in this tab across navigation and Back. Returns
 * {restore(onJob), job(id)}: restore puts the form back (twice, so controls built from an earlier
 * choice get their values too), hands back the image and calls onJob(id) for the last job.
 */
export function keepState(page, form, source) {
  const read = () => JSON.parse(sessionStorage.getItem(STATE(page)) || "{}");
  const save = (extra = {}) => sessionStorage.setItem(STATE(page), JSON.stringify({
    ...read(), values: formValues(form), image: source?.state.upload ? source.state : null, ...extra }));
  form.addEventListener("change", () => save());
  form.addEventListener("input", () => save());
  return {
    save,
    job: (id) => save({ job: id }),
    restore(onJob) {
      const saved = read();
      if (saved.values) { putValues(form, saved.values); putValues(form, saved.values); }
      if (saved.image) source?.restore(saved.image);
      if (saved.job) onJob?.(saved.job);
    },
  };
}

/** The three ways to send a request outside the console, each the same method, path and JSON body. */
export function snippets({ path, body }) {
  const url = `${location.origin}${API}${path}`;
  const json = JSON.stringify(body, null, 2);
  return {
    curl: `curl -X POST '${url}' \\\n  -H "Authorization: Bearer $IMAGESTUDIO_API_KEY" \\\n  -H 'Content-Type: application/json' \\\n  -d '${json.replaceAll("'", "'\\''")}'`,
    python: `import os\n\nimport httpx\n\njob = httpx.post(\n    "${url}",\n    headers={"Authorization": f"Bearer {os.environ['IMAGESTUDIO_API_KEY']}"},\n    json=${pythonLiteral(body, 4)},\n).json()\nprint(job["id"], job["status"])`,
    typescript: `const response = await fetch("${url}", {\n  method: "POST",\n  headers: {\n    Authorization: \`Bearer \${process.env.IMAGESTUDIO_API_KEY}\`,\n    "Content-Type": "application/json",\n  },\n  body: JSON.stringify(${json.replaceAll("\n", "\n  ")}),\n});\nconst job = await response.json();\nconsole.log(job.id, job.status);`,
  };
}

/** JSON as a Python literal (True/False/None), indented to sit inside a call. */
function pythonLiteral(value, indent) {
  const text = JSON.stringify(value, null, 4).replace(/\b(true|false|null)\b(?=(?:[^"]*"[^"]*")*[^"]*$)/g,
    (word) => ({ true: "True", false: "False", null: "None" })[word]);
  return text.replaceAll("\n", `\n${" ".repeat(indent)}`);
}

/** "Copy as curl / Python / TypeScript": `request()` is the {path, body} the form's submit sends. */
export function copyAs(request) {
  const shown = h("pre", { class: "snippet", hidden: true, tabindex: 0 });
  const button = (kind, text) => h("button", { type: "button", class: "ghost small", dataset: { copy: kind }, onclick: async (e) => {
    const code = snippets(request())[kind];
    shown.textContent = code; shown.hidden = false; shown.dataset.kind = kind;
    try { await navigator.clipboard.writeText(code); e.target.textContent = `${text} ✓ copied`; } catch { e.target.textContent = `${text} (select below)`; }
  } }, text);
  return h("details", { class: "copy-as" }, h("summary", {}, "Copy as code"),
    h("div", { class: "row" }, button("curl", "curl"), button("python", "Python"), button("typescript", "TypeScript")), shown);
}
