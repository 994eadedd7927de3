// Create: prompt, template (browse, search, recommend), provider and model, persona, batch; live estimate.
import { get } from "../api.js";
import { copyAs, outputArea, studioJobs } from "../studio.js";
import { busy, clearProblem, costEstimate, field, h, select, showProblem } from "../ui.js";

const label = (name) => name.replaceAll("_", " ").replace(/^./, (c) => c.toUpperCase());

/** Template browsing: platform, category and search narrow the list; a use case asks for advice. */
function templatePicker(templates) {
  const choice = (list, blank) => select([["", blank], ...list.map((v) => [v, label(v)])], "");
  const platform = choice([...new Set(templates.map((t) => t.platform))].sort(), "Any platform");
  const category = choice([...new Set(templates.map((t) => t.category))].sort(), "Any category");
  const search = h("input", { type: "search", placeholder: "e.g. square post" });
  const template = select([["", "No template"]], "");
  const about = h("p", { class: "hint", id: "template-about" });
  const fill = (list) => {
    const current = template.value;
    template.replaceChildren(h("option", { value: "" }, "No template"),
      ...list.map((t) => h("option", { value: t.id, selected: t.id === current }, `${t.name} (${t.width}×${t.height}, ${t.aspect_ratio})`)));
    template.dispatchEvent(new Event("change", { bubbles: true }));
  };
  const use = (id) => {
    platform.value = category.value = search.value = "";
    fill(templates);
    template.value = id;
    template.dispatchEvent(new Event("change", { bubbles: true }));
  };
  const narrow = async () => {
    const words = search.value.trim();
    const found = words ? (await get(`/templates/search?q=${encodeURIComponent(words)}`)).results : templates;
    fill(found.filter((t) => (!platform.value || t.platform === platform.value) && (!category.value || t.category === category.value)));
  };
  for (const control of [platform, category, search]) control.addEventListener("change", narrow);
  template.addEventListener("change", () => {
    const t = templates.find((x) => x.id === template.value);
    if (t) template.dispatchEvent(new CustomEvent("template", { bubbles: true, detail: t }));
    about.textContent = t ? `${t.description} Suggested: ${t.suggested_providers.join(", ")}; ${t.quality} quality.` : "";
  });

  const useCase = h("input", { type: "text", placeholder: "e.g. product launch teaser" });
  const ask = h("button", { type: "button", class: "ghost small" }, "Recommend");
  const advice = h("ol", { class: "stack recommendations", "aria-label": "Recommended templates" });
  const box = h("div", { class: "card stack" },
    h("div", { class: "row" }, field("Platform", platform), field("Category", category), field("Search templates", search)),
    field("Template", template, { name: "template_id" }), about,
    h("div", { class: "row recommend" }, field("Recommend for a use case", useCase, { name: "use_case" }), ask), advice);
  ask.addEventListener("click", async () => {
    clearProblem(box);
    const query = new URLSearchParams({ use_case: useCase.value.trim() });
    // The platform asked for: the filter, else one the use case names ("instagram product launch").
    const named = [...platform.options].map((o) => o.value).find((p) => p && new RegExp(`\\b${p}\\b`, "i").test(useCase.value));
    if (platform.value || named) query.set("platform", platform.value || named);
    const done = busy(ask, "Finding…");
    try {
      const { results } = await get(`/templates/recommend?${query}`);
      advice.replaceChildren(...results.map((t) => h("li", { dataset: { template: t.id } },
        h("button", { type: "button", class: "ghost small", onclick: () => use(t.id) }, `Use ${t.name}`),
        h("span", { class: "muted" }, ` ${t.width}×${t.height}; ${t.reasons.join(", ")}`))));
      if (!results.length) advice.replaceChildren(h("li", { class: "muted" }, "No template fits that: try other words."));
    } catch (err) { showProblem(box, err); } finally { done(); }
  });
  useCase.addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); ask.click(); } });
  fill(templates);
  return { el: box, template };
}

/** Provider and model: auto by default; simulated providers say so; models follow the provider. */
function providerPicker(providers) {
  const provider = select([["auto", "Auto (best available)"],
    ...providers.map((p) => [p.name, `${p.label}${p.simulated ? " — simulated" : p.available ? "" : " — not configured"}`])], "auto");
  const model = select([["", "Auto"]], "");
  const models = field("Model", model, { name: "model" });
  const follow = () => {
    const chosen = providers.find((p) => p.name === provider.value);
    model.replaceChildren(h("option", { value: "" }, "Auto (by quality)"),
      ...(chosen?.models || []).map((m) => h("option", { value: m.model }, `${m.label} — ${m.credits_per_image} credits, ${m.quality}`)));
    models.hidden = !chosen;
  };
  provider.addEventListener("change", follow);
  follow();
  return { provider, model, el: [field("Provider", provider, { name: "provider" }), models] };
}

export async function render(view) {
  const [{ templates }, { providers }, { items: personas }] = await Promise.all([
    get("/templates"), get("/providers?kind=generate"), get("/personas")]);
  const prompt = h("textarea", { rows: 3, required: true });
  const negative = h("input", { type: "text" });
  const picker = templatePicker(templates);
  const route = providerPicker(providers);
  const styles = [...new Set(providers.flatMap((p) => p.models.flatMap((m) => m.style_presets)))].sort();
  const quality = select(["draft", "standard", "premium"], "standard");
  const style = select([["", "Template's or none"], ...styles], "");
  const persona = select([["", personas.length ? "No persona" : "No persona (none stored yet)"],
    ...personas.map((p) => [p.id, p.tone ? `${p.name} — ${p.tone}` : p.name])], "");
  const count = h("input", { type: "number", min: 1, max: 10, value: 1 });
  const estimate = costEstimate("create", () => body()); // body() is defined below
  const go = h("button", { type: "submit" }, "Create");
  const output = outputArea("Write a prompt and create: the job's progress and every image show here.");

  const form = h("form", { class: "card", "aria-label": "Create images" },
    field("Prompt", prompt, { name: "prompt" }), field("Negative prompt", negative, { name: "negative_prompt" }),
    picker.el,
    h("div", { class: "row" }, route.el, field("Quality", quality, { name: "quality" }),
      field("Style", style, { name: "style_preset" }), field("Persona", persona, { name: "persona_id" }),
      field("Batch size", count, { name: "count" })),
    estimate.el);
  // A template's quality is the template's choice until the user picks another.
  form.addEventListener("template", (e) => { quality.value = e.detail.quality; });

  const body = () => {
    const b = { prompt: prompt.value || "estimate", provider: route.provider.value, quality: quality.value, count: Number(count.value) };
    const optional = { template_id: picker.template, style_preset: style, negative_prompt: negative, persona_id: persona, model: route.model };
    for (const [name, control] of Object.entries(optional)) if (control.value && !control.closest("[hidden]")) b[name] = control.value;
    return b;
  };
  form.addEventListener("change", estimate.refresh);
  form.addEventListener("input", (e) => { if (e.target === count) estimate.refresh(); });
  await estimate.refresh();

  const request = () => ({ path: "/create", body: { ...body(), prompt: prompt.value } });
  form.append(copyAs(request), go);
  return studioJobs(view, { title: "Create", studio: "create", form, output, go, request, followOptions: () => ({ title: "Create job" }) });
}
