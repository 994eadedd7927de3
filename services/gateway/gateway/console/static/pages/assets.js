// Assets: the library with filters and search, favorites, tags, usage, bulk actions; one asset's detail.
import { ApiError, get, post, request } from "../api.js";
import { STUDIO_PAGES } from "../studios.js";
import { announce, busy, bytes, clearProblem, field, h, pager, select, showProblem, useIn, when } from "../ui.js";

const tagList = (text) => text.split(",").map((t) => t.trim()).filter(Boolean);

function favoriteButton(asset, onChange) {
  const button = h("button", { type: "button", class: "ghost small favorite", "aria-pressed": String(asset.favorite),
    "aria-label": `Favorite ${asset.name}` }, asset.favorite ? "★ Favorite" : "☆ Favorite");
  button.addEventListener("click", async () => {
    const done = busy(button, "…");
    try {
      const fresh = await request(`/assets/${asset.id}/favorite`, { method: asset.favorite ? "DELETE" : "POST" });
      done();
      Object.assign(asset, fresh);
      button.setAttribute("aria-pressed", String(fresh.favorite));
      button.textContent = fresh.favorite ? "★ Favorite" : "☆ Favorite";
      onChange?.(fresh);
    } catch (err) { done(); announce(err.problem?.title || String(err)); }
  });
  return button;
}

export async function render(view, { args, query }) {
  if (args[0]) return detail(view, args[0]);
  const { providers } = await get("/providers");
  const studio = select([["", "Any studio"], ...STUDIO_PAGES.map((s) => s.name)], query.get("studio") || "");
  const provider = select([["", "Any provider"], ...providers.map((p) => [p.name, p.label]), ["local", "Local"]], "");
  const tag = h("input", { type: "text", value: query.get("tag") || "" });
  const favorite = select([["", "All assets"], ["true", "Favorites only"], ["false", "Not favorites"]], query.get("favorite") || "");
  const after = h("input", { type: "date" });
  const before = h("input", { type: "date" });
  const search = h("input", { type: "search", placeholder: "Prompt, name or tag" });
  const extras = h("input", { type: "checkbox", name: "extras" });
  // On a phone the filters fold away (open on a wider screen), so the first image is above the fold.
  const more = h("details", { class: "more-filters", open: matchMedia("(min-width: 761px)").matches },
    h("summary", {}, "More filters"),
    h("div", { class: "row" }, field("Studio", studio, { name: "studio" }), field("Provider", provider, { name: "provider" }),
      field("Tag", tag, { name: "tag" }), field("Favorites", favorite, { name: "favorite" }),
      field("Created from", after, { name: "created_after" }), field("Created until", before, { name: "created_before" }),
      h("label", { class: "field inline" }, extras, "Show previews and zips")));
  const filters = h("form", { class: "card stack", "aria-label": "Filter assets", role: "search" },
    field("Search", search, { name: "q" }), more);

  const selected = new Set();
  const grid = h("ul", { class: "grid assets", "aria-label": "Assets" });
  const count = h("span", { class: "muted", id: "selected-count", "aria-live": "polite" }, "None selected");
  const bulkTags = h("input", { type: "text", placeholder: "tag, another" });
  const toolbar = h("form", { class: "card row", "aria-label": "Selected assets" });
  const bulkButtons = [];
  const bulkButton = (text, action, className = "ghost") => {
    const button = h("button", { type: "button", class: `${className} small`, dataset: { action }, disabled: true }, text);
    button.addEventListener("click", () => bulk(action, button));
    bulkButtons.push(button);
    return button;
  };
  const updateCount = () => {
    count.textContent = selected.size ? `${selected.size} selected` : "None selected";
    for (const b of bulkButtons) b.disabled = !selected.size;
  };
  const all = h("input", { type: "checkbox", "aria-label": "Select every asset shown" });
  all.addEventListener("change", () => {
    for (const box of grid.querySelectorAll("input[type=checkbox]")) {
      box.checked = all.checked;
      box.dispatchEvent(new Event("change"));
    }
  });
  toolbar.append(h("label", { class: "field inline" }, all, "Select all"), count,
    bulkButton("Favorite", "favorite"), bulkButton("Unfavorite", "unfavorite"),
    field("Tags for the selection", bulkTags, { name: "tags" }), bulkButton("Add tags", "tag"), bulkButton("Remove tags", "untag"),
    bulkButton("Delete", "delete", "danger"));

  const card = (asset) => {
    const box = h("input", { type: "checkbox", "aria-label": `Select ${asset.name}`, checked: selected.has(asset.id) });
    box.addEventListener("change", () => { if (box.checked) selected.add(asset.id); else selected.delete(asset.id); updateCount(); });
    const image = asset.content_type.startsWith("image/");
    return h("li", { class: "card output asset", dataset: { asset: asset.id, favorite: String(asset.favorite) } },
      h("div", { class: "row" }, box, h("a", { href: `#/assets/${asset.id}`, class: "asset-name" }, asset.filename || asset.name)),
      image ? h("img", { src: asset.url, alt: asset.prompt ? `${asset.name}: ${asset.prompt}` : asset.name, loading: "lazy" }) : h("div", { class: "file" }, asset.format.toUpperCase()),
      h("div", { class: "meta" },
        h("span", {}, asset.studio), asset.provider ? h("span", {}, asset.provider) : null,
        asset.width ? h("span", {}, `${asset.width}×${asset.height}`) : null, h("span", {}, bytes(asset.bytes)),
        h("span", { class: "usage" }, `used ${asset.usage_count}×`), h("span", {}, when(asset.created_at))),
      asset.tags.length ? h("ul", { class: "row tags", "aria-label": "Tags" }, asset.tags.map((t) => h("li", { class: "chip" }, t))) : null,
      favoriteButton(asset, (fresh) => { grid.querySelector(`[data-asset="${asset.id}"]`).dataset.favorite = String(fresh.favorite); }),
      image && asset.kind === "image" ? useIn(asset) : null);
  };
  // Outputs grouped by the job (and so the source) they came from: a heading where the job changes.
  let lastJob = null;
  const group = (asset) => {
    if (asset.job_id === lastJob) return [];
    lastJob = asset.job_id;
    return [h("li", { class: "group", dataset: { job: asset.job_id } },
      h("a", { href: `#/jobs/${asset.job_id}` }, `${asset.studio} job ${asset.job_id.slice(0, 8)}`), ` · ${when(asset.created_at)}`)];
  };
  const params = () => {
    const p = new URLSearchParams({ limit: "40" });
    if (search.value.trim()) p.set("q", search.value.trim());
    for (const [name, control] of [["studio", studio], ["provider", provider], ["favorite", favorite]]) if (control.value) p.set(name, control.value);
    if (tag.value.trim()) p.set("tag", tag.value.trim());
    // The dates are whole days in the browser's zone: from its first instant, until its last.
    if (after.value) p.set("created_after", new Date(`${after.value}T00:00:00`).toISOString());
    if (before.value) p.set("created_before", new Date(`${before.value}T23:59:59.999`).toISOString());
    return p;
  };
  const list = pager("/assets", params, (page, reset) => {
    if (reset) { grid.replaceChildren(); selected.clear(); all.checked = false; updateCount(); lastJob = null; }
    // Safe-zone previews and zips belong with their output: shown only when asked for.
    const wanted = page.items.filter((a) => extras.checked || a.kind === "image");
    const jobs = [...new Set(wanted.map((a) => a.job_id))]; // each job's outputs together, newest job first
    grid.append(...jobs.flatMap((id) => wanted.filter((a) => a.job_id === id)).flatMap((a) => [...group(a), card(a)]));
    empty.hidden = grid.children.length > 0;
    grid.setAttribute("aria-busy", "false");
  });
  const empty = h("p", { class: "muted", hidden: true }, "No assets match: outputs of finished jobs appear here.");
  const reload = async () => {
    grid.setAttribute("aria-busy", "true");
    clearProblem(filters);
    try { await list.load(true); } catch (err) { showProblem(filters, err); }
  };

  async function bulk(action, button) {
    clearProblem(toolbar);
    const ids = [...selected];
    const body = { action, ids };
    if (action === "tag" || action === "untag") body.tags = tagList(bulkTags.value);
    if (action === "delete" && !confirm(`Delete ${ids.length} asset${ids.length > 1 ? "s" : ""}? Their files are removed.`)) return;
    const done = busy(button, "Working…");
    try {
      const result = await post("/assets/bulk", body);
      announce(`${result.succeeded} done${result.failed ? `, ${result.failed} failed` : ""}`);
      if (result.failed) {
        const first = result.results.find((r) => !r.ok);
        showProblem(toolbar, new ApiError({ title: `${result.failed} not changed`, detail: first.detail }));
      }
      await reload();
    } catch (err) { showProblem(toolbar, err); } finally { done(); updateCount(); }
  }

  toolbar.addEventListener("submit", (e) => e.preventDefault());
  filters.addEventListener("change", reload);
  filters.addEventListener("submit", (e) => { e.preventDefault(); reload(); });
  await reload();
  view.append(h("h1", {}, "Assets"), filters, toolbar, grid, empty, list.more);
}

async function detail(view, id) {
  const asset = await get(`/assets/${id}`);
  const [usage, job] = await Promise.all([
    get(`/assets/${id}/usage`),
    get(`/jobs/${asset.job_id}`).catch(() => null),
  ]);
  const link = h("a", { class: "button", id: "asset-download", href: asset.url, download: asset.filename || asset.name }, `Download ${asset.name}`);
  const expires = h("span", { class: "muted" }, `link valid until ${when(asset.expires_at)}`);
  const fresh = h("button", { type: "button", class: "ghost" }, "New download link");
  fresh.addEventListener("click", async () => {
    const done = busy(fresh, "Signing…");
    try {
      const again = await get(`/assets/${id}`);
      link.href = again.url; expires.textContent = `link valid until ${when(again.expires_at)}`;
      announce("A new download link is ready");
    } finally { done(); }
  });
  const tags = h("input", { type: "text", value: asset.tags.join(", ") });
  const save = h("button", { type: "submit" }, "Save tags");
  const tagForm = h("form", { class: "row", "aria-label": "Tags" }, field("Tags (comma separated)", tags, { name: "tags" }), save);
  tagForm.addEventListener("submit", async (e) => {
    e.preventDefault(); clearProblem(tagForm);
    const done = busy(save, "Saving…");
    try {
      const saved = await request(`/assets/${id}`, { method: "PATCH", body: { tags: tagList(tags.value) } });
      tags.value = saved.tags.join(", ");
      announce("Tags saved");
    } catch (err) { showProblem(tagForm, err); } finally { done(); }
  });
  const remove = h("button", { type: "button", class: "danger" }, "Delete asset");
  remove.addEventListener("click", async () => {
    if (!confirm(`Delete ${asset.name}?`)) return;
    const done = busy(remove, "Deleting…");
    try { await request(`/assets/${id}`, { method: "DELETE" }); location.hash = "#/assets"; } catch (err) { showProblem(tagForm, err); } finally { done(); }
  });
  const image = asset.content_type.startsWith("image/");
  view.append(h("p", {}, h("a", { href: "#/assets" }, "← All assets")), h("h1", {}, asset.name),
    h("div", { class: "cols" },
      h("div", { class: "card output" }, image ? h("img", { src: asset.url, alt: asset.prompt || asset.name, class: "asset-full" }) : null,
        h("div", { class: "row" }, link, fresh, expires)),
      h("div", { class: "stack" },
        h("dl", { class: "card facts" },
          h("dt", {}, "Prompt"), h("dd", { id: "asset-prompt" }, asset.prompt || "—"),
          h("dt", {}, "Studio"), h("dd", {}, asset.studio),
          h("dt", {}, "Provider"), h("dd", {}, asset.provider || "—"),
          h("dt", {}, "Size"), h("dd", {}, `${asset.width ? `${asset.width}×${asset.height}, ` : ""}${bytes(asset.bytes)} ${asset.format.toUpperCase()}`),
          h("dt", {}, "Job"), h("dd", {}, h("a", { href: `#/jobs/${asset.job_id}` }, asset.job_id.slice(0, 8))),
          h("dt", {}, "Used"), h("dd", {}, `${asset.usage_count} times${asset.last_used_at ? `, last ${when(asset.last_used_at)}` : ""}`)),
        h("div", { class: "card" }, favoriteButton(asset), tagForm, remove),
        usage.length ? h("ul", { class: "card", "aria-label": "Where it was used" }, usage.map((u) => h("li", {}, `${u.used_in}${u.note ? ` — ${u.note}` : ""} (${when(u.created_at)})`))) : null,
        h("details", { open: true }, h("summary", {}, "Parameters"), h("pre", { id: "asset-params" }, JSON.stringify(job?.params ?? asset.metadata ?? {}, null, 2))))));
}
