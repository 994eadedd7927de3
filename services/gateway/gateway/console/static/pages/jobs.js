// Jobs: the tenant's jobs with filters; one job's live progress, cancel, retry and outputs.
import { get, post, submit } from "../api.js";
import { STUDIO_PAGES } from "../studios.js";
import { busy, field, h, jobPanel, outputsGrid, select, showProblem, statusChip, when } from "../ui.js";
import { resubmittable } from "./rerun.js";


/** A job's name for people: what it was asked to do, in a few words. */
export function jobName(job) {
  const p = job.params || {};
  const what = p.prompt || p.operation || p.mode || (p.formats ? `${p.formats.length} formats` : "") || p.format || "";
  const named = p.source_name || Object.values(job.source_names || {})[0];
  const source = named ? `${named}: ` : "";
  return `${source}${String(what).replaceAll("_", " ").slice(0, 60)}`.trim() || job.studio;
}

/** Credits each job cost (captured), else holds (reserved), from the ledger's recent entries. */
async function creditsByJob() {
  const { entries } = await get("/credits?limit=200");
  const cost = new Map();
  for (const e of entries) {
    if (!e.job_id) continue;
    const [charged, held] = cost.get(e.job_id) || [0, 0];
    cost.set(e.job_id, [charged - (e.kind === "capture" ? e.balance_delta : 0), held + (e.kind === "reserve" ? e.reserved_delta : 0)]);
  }
  return (id) => { const [charged, held] = cost.get(id) || [0, 0]; return charged || held; };
}

export async function render(view, { args, query }) {
  if (args[0]) return detail(view, args[0]);
  const studio = select([["", "Any studio"], ...STUDIO_PAGES.map((s) => s.name)], query.get("studio") || "");
  const status = select([["", "Any status"], "queued", "running", "succeeded", "failed", "canceled", "expired"], query.get("status") || "");
  const filters = h("form", { class: "row card", "aria-label": "Filter jobs" }, field("Studio", studio), field("Status", status));
  const body = h("tbody");
  const more = h("button", { type: "button", class: "ghost", hidden: true }, "Load more");
  let cursor = null;
  const empty = h("p", { class: "muted empty", hidden: true }, "No jobs yet. Start one from a studio: ",
    h("a", { href: "#/create" }, "Create"), ", ", h("a", { href: "#/edit" }, "Edit"), " or ", h("a", { href: "#/compress" }, "Compress"), ".");
  const load = async (reset) => {
    const params = new URLSearchParams({ limit: "20" });
    if (studio.value) params.set("studio", studio.value);
    if (status.value) params.set("status", status.value);
    if (!reset && cursor) params.set("cursor", cursor);
    const [page, cost] = await Promise.all([get(`/jobs?${params}`), creditsByJob()]);
    if (reset) body.replaceChildren();
    for (const job of page.items) {
      const thumb = job.outputs.find((o) => o.content_type.startsWith("image/") && o.kind !== "preview");
      body.append(h("tr", { dataset: { job: job.id } },
        h("td", {}, thumb ? h("img", { class: "thumb", src: thumb.url, alt: "", loading: "lazy" }) : null),
        h("td", {}, h("a", { href: `#/jobs/${job.id}` }, jobName(job)), h("br"), h("code", { class: "muted" }, job.id.slice(0, 8))),
        h("td", {}, job.studio), h("td", {}, statusChip(job.status)),
        h("td", { class: "cost" }, `${cost(job.id)} credits`),
        h("td", {}, `${Math.round(job.progress * 100)}%`), h("td", {}, when(job.created_at))));
    }
    empty.hidden = body.children.length > 0;
    cursor = page.next_cursor;
    more.hidden = !cursor;
  };
  filters.addEventListener("change", () => load(true));
  more.addEventListener("click", () => load(false));
  await load(true);
  view.append(h("h1", {}, "Jobs"), filters,
    h("div", { class: "table-wrap" }, h("table", {}, h("caption", { class: "visually-hidden" }, "Jobs, newest first"),
      h("thead", {}, h("tr", {}, ["Result", "Job", "Studio", "Status", "Cost", "Progress", "Created"].map((t) => h("th", { scope: "col" }, t)))), body)),
    empty, more);
}

async function detail(view, id) {
  const job = await get(`/jobs/${id}`);
  const outputs = h("div", {});
  const form = h("div", { class: "stack" });
  const cancel = h("button", { type: "button", class: "danger", id: "cancel-job" }, "Cancel job");
  const retry = h("button", { type: "button", id: "retry-job" }, "Run again with the same settings");
  const panel = jobPanel(job, {
    title: `${job.studio} job: ${jobName(job)}`,
    onDone: (fresh) => {
      cancel.hidden = true;
      outputs.replaceChildren(fresh.outputs.length ? outputsGrid(fresh) : h("p", { class: "muted" }, "No outputs."));
    },
  });
  cancel.hidden = ["succeeded", "failed", "canceled", "expired"].includes(job.status);
  cancel.addEventListener("click", async () => {
    const done = busy(cancel, "Cancelling…");
    try { await post(`/jobs/${id}/cancel`); } catch (err) { showProblem(form, err); } finally { done(); }
  });
  retry.addEventListener("click", async () => {
    const done = busy(retry, "Submitting…");
    try {
      const again = await resubmittable(job);
      location.hash = `#/jobs/${(await submit(again.path, again.body)).id}`;
    } catch (err) { showProblem(form, err); } finally { done(); }
  });
  view.append(h("h1", {}, "Job ", h("code", {}, id)), form, panel.el, h("div", { class: "row" }, cancel, retry),
    h("details", {}, h("summary", {}, "Parameters"), h("pre", {}, JSON.stringify(job.params, null, 2))),
    h("h2", {}, "Outputs"), outputs);
  return panel.stop;
}
