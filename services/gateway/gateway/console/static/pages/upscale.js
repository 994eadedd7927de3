// Upscale: upload, a mode and preset from /upscale/modes, the target size, a live estimate, before/after.
import { get, submit, upload } from "../api.js";
import { busy, clearProblem, costEstimate, dropZone, field, followImageJob, h, select, showProblem, uploadWithStatus } from "../ui.js";

/** The output size a mode's target gives an input: `scale` times each side, else about `pixels` in all. */
export function targetSize({ scale, pixels }, width, height) {
  const factor = scale || Math.sqrt(pixels / (width * height));
  return [Math.round(width * factor), Math.round(height * factor)];
}

export async function render(view) {
  const { modes, presets } = await get("/upscale/modes");
  let image = null; let file = null; let stop = () => {};
  const status = h("p", { class: "muted", role: "status" });
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
  const results = h("div", { class: "stack", id: "results" });
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

  const zone = dropZone(async (chosen) => {
    clearProblem(form);
    try {
      image = await uploadWithStatus(chosen, status, upload); file = chosen;
      form.dataset.upload = image.id;
      showTarget();
    } catch (err) { status.textContent = ""; showProblem(form, err); }
  });
  zone.dataset.field = "image";
  const form = h("form", { class: "card", "aria-label": "Upscale an image" }, zone, status, target,
    field("Mode", mode, { name: "mode" }), describe,
    h("div", { class: "row" }, field("Preset", preset, { name: "preset" }), field("Path", path, { name: "path" }), field("Output format", format, { name: "output_format" })),
    presetHint, ...Object.values(optional), estimate.el, go);
  mode.addEventListener("change", showMode);
  preset.addEventListener("change", showPreset);
  form.addEventListener("change", estimate.refresh);
  showMode(); showPreset();
  await estimate.refresh();

  form.addEventListener("submit", async (e) => {
    e.preventDefault(); clearProblem(form);
    const body = { image: image?.id ?? null, mode: mode.value, preset: preset.value, path: path.value, output_format: format.value };
    const m = current();
    if (m.optional.includes("prompt") && prompt.value) body.prompt = prompt.value;
    if (m.optional.includes("creativity") && creativity.value !== "") body.creativity = Number(creativity.value);
    if (m.optional.includes("seed") && seed.value !== "") body.seed = Number(seed.value);
    const done = busy(go, "Submitting…");
    try {
      const job = await submit("/upscale", body);
      stop();
      stop = followImageJob(results, job, { title: `${m.name} upscale`, before: file });
    } catch (err) { showProblem(form, err); } finally { done(); }
  });
  view.append(h("h1", {}, "Upscale"), h("div", { class: "cols" }, form, results));
  return () => stop();
}
