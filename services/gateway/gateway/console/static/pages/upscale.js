// Upscale: upload, a mode and preset from /upscale/modes, the target size, a live estimate, before/after.
import { get } from "../api.js";
import { copyAs, imageSource, outputArea, studioJobs } from "../studio.js";
import { costEstimate, field, h, select } from "../ui.js";

/** The output size a mode's target gives an input: `scale` times each side, else about `pixels` in all. */
export function targetSize({ scale, pixels }, width, height) {
  const factor = scale || Math.sqrt(pixels / (width * height));
  return [Math.round(width * factor), Math.round(height * factor)];
}

export async function render(view, { query }) {
  const { modes, presets } = await get("/upscale/modes");
  let image = null;
  const mode = select(modes.map((m) => [m.id, m.name]), modes[0].id);
  const describe = h("p", { class: "hint" });
  const preset = select(presets.map((p) => [p.id, p.id]), presets.find((p) => p.default)?.id);
  const presetHint = h("p", { class: "hint" });
  const path = select([], "auto");
  const format = select([["png", "PNG"], ["jpeg", "JPEG"], ["webp", "WebP"]], "png");
  const prompt = h("textarea", { rows: 2, placeholder: "Default: the preset's" });
  const creativity = h("input", { type: "number", min: 0, step: 0.05 });
  const seed = h("input", { type: "number", min: 0, step: 1 });
  const target = h("p", { id: "target-size", "aria-live": "polite" }, "Choose an image to see the size it becomes.");
  const optional = { prompt: field("Prompt", prompt, { name: "prompt" }), creativity: field("Creativity", creativity, { name: "creativity" }), seed: field("Seed", seed, { name: "seed" }) };
  const go = h("button", { type: "submit" }, "Upscale");
  const output = outputArea("Choose an image: it shows here, then the upscale's progress and result.");
  const current = () => modes.find((m) => m.id === mode.value);
  const estimate = costEstimate("upscale", () => ({ mode: mode.value, path: path.value }));

  const showTarget = () => {
    if (!image) return;
    const m = current();
    const [w, h2] = targetSize(m.target, image.width, image.height);
    target.textContent = `${image.width}×${image.height} → ${m.target.scale ? "" : "about "}${w}×${h2} (${m.output})`;
    target.dataset.size = `${w}x${h2}`;
  };
  const showMode = () => {
    const m = current();
    describe.textContent = `${m.description} ${m.provider.credits} credits via ${m.provider.name}${m.provider.simulated ? " (simulated)" : ""}${m.local.available ? `; local path ${m.local.credits} credits` : ""}.`;
    const chosen = path.value;
    path.replaceChildren(...m.paths.map((p) => h("option", { value: p, selected: p === chosen }, p)));
    for (const [name, box] of Object.entries(optional)) box.hidden = !m.optional.includes(name);
    creativity.max = m.max_creativity ?? "";
    showTarget();
  };
  const showPreset = () => { presetHint.textContent = presets.find((p) => p.id === preset.value).description; };

  const form = h("form", { class: "card", "aria-label": "Upscale an image" });
  const source = imageSource(form, output, (uploaded) => { image = uploaded; showTarget(); });
  const request = () => {
    const body = { image: image?.id ?? null, mode: mode.value, preset: preset.value, path: path.value, output_format: format.value };
    const m = current();
    if (m.optional.includes("prompt") && prompt.value) body.prompt = prompt.value;
    if (m.optional.includes("creativity") && creativity.value !== "") body.creativity = Number(creativity.value);
    if (m.optional.includes("seed") && seed.value !== "") body.seed = Number(seed.value);
    return { path: "/upscale", body };
  };
  form.append(source.el, target,
    field("Mode", mode, { name: "mode" }), describe,
    h("div", { class: "row" }, field("Preset", preset, { name: "preset" }), field("Where it runs", path, { name: "path" }), field("Output format", format, { name: "output_format" })),
    presetHint, ...Object.values(optional), estimate.el, copyAs(request), go);
  mode.addEventListener("change", showMode);
  preset.addEventListener("change", showPreset);
  form.addEventListener("change", estimate.refresh);
  showMode(); showPreset();
  await estimate.refresh();

  return studioJobs(view, { title: "Upscale", studio: "upscale", form, output, go, request, source, fromAsset: source.fromAsset, query,
    followOptions: () => ({ title: "Upscale", before: source.state.url }) });
}
