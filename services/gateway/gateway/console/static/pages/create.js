// Create: prompt, template (browse, search, recommend), provider, quality, batch; live estimate.
import { get, post, submit } from "../api.js";
import { busy, clearProblem, field, h, jobPanel, outputsGrid, select, showProblem } from "../ui.js";

export async function render(view) {
  const [{ templates }, { providers }] = await Promise.all([get("/templates"), get("/providers")]);
  const prompt = h("textarea", { rows: 3, required: true });
  const negative = h("input", { type: "text" });
  const search = h("input", { type: "search", placeholder: "e.g. product launch" });
  const platforms = [...new Set(templates.map((t) => t.platform))].sort();
  const platform = select([["", "Any platform"], ...platforms], "");
  const template = select([["", "No template"]], "");
  const fillTemplates = (list) => {
    const current = template.value;
    template.replaceChildren(h("option", { value: "" }, "No template"),
      ...list.map((t) => h("option", { value: t.id, selected: t.id === current }, `${t.name} (${t.width}×${t.height}, ${t.aspect_ratio})`)));
  };
  fillTemplates(templates);
  const provider = select([["auto", "Auto (best available)"], ...providers.map((p) => [p.name, `${p.label}${p.simulated ? " — simulated" : ""}`])], "auto");
  const quality = select(["draft", "standard", "premium"], "standard");
  const style = select([["", "Template or none"], "photographic", "cinematic", "digital-art", "anime", "analog-film", "3d-model", "line-art", "pixel-art"], "");
  const count = h("input", { type: "number", min: 1, max: 10, value: 1 });
  const estimate = h("p", { class: "stat", id: "estimate", "aria-live": "polite" }, "—");
  const breakdown = h("p", { class: "muted", id: "estimate-breakdown" });
  const go = h("button", { type: "submit" }, "Create");
  const results = h("div", { class: "stack", id: "results" });
  let stop = () => {};

  const form = h("form", { class: "card", "aria-label": "Create images" },
    field("Prompt", prompt, { name: "prompt" }), field("Negative prompt", negative, { name: "negative_prompt" }),
    h("div", { class: "row" }, field("Platform", platform), field("Search templates", search)),
    field("Template", template, { name: "template_id" }),
    h("div", { class: "row" }, field("Provider", provider, { name: "provider" }), field("Quality", quality, { name: "quality" }),
      field("Style", style, { name: "style_preset" }), field("Batch size", count, { name: "count" })),
    h("div", { class: "card" }, h("div", { class: "muted" }, "Estimated cost"), estimate, breakdown),
    go);

  const body = () => {
    const b = { prompt: prompt.value || "estimate", provider: provider.value, quality: quality.value, count: Number(count.value) };
    if (template.value) b.template_id = template.value;
    if (style.value) b.style_preset = style.value;
    if (negative.value) b.negative_prompt = negative.value;
    return b;
  };
  let asked = 0;
  const reestimate = async () => {
    const mine = ++asked;
    try {
      const e = await post("/estimate-cost", { studio: "create", params: body() });
      if (mine !== asked) return;
      estimate.textContent = `${e.total_credits} credits`;
      estimate.dataset.credits = String(e.total_credits);
      breakdown.textContent = e.breakdown.map((i) => `${i.count} × ${i.item} @ ${i.unit_credits}`).join("; ");
    } catch (err) { if (mine === asked) { estimate.textContent = "—"; breakdown.textContent = err.problem?.detail || ""; } }
  };
  const narrow = async () => {
    if (search.value.trim()) fillTemplates((await get(`/templates/search?q=${encodeURIComponent(search.value.trim())}`)).results);
    else fillTemplates(platform.value ? templates.filter((t) => t.platform === platform.value) : templates);
  };
  platform.addEventListener("change", narrow);
  search.addEventListener("change", narrow);
  form.addEventListener("change", reestimate);
  form.addEventListener("input", (e) => { if (e.target === count) reestimate(); });
  await reestimate();

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearProblem(form);
    const done = busy(go, "Submitting…");
    try {
      const job = await submit("/create", { ...body(), prompt: prompt.value });
      stop();
      const panel = jobPanel(job, { title: "Create job", onDone: (fresh) => results.append(outputsGrid(fresh)) });
      stop = panel.stop;
      results.replaceChildren(panel.el);
    } catch (err) { showProblem(form, err); } finally { done(); }
  });
  view.append(h("h1", {}, "Create"), h("div", { class: "cols" }, form, results));
  return () => stop();
}
