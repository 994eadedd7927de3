// Social: upload once, pick platforms and formats, click the focal point, see every result.
import { ApiError, get } from "../api.js";
import { copyAs, imageSource, outputArea, studioJobs } from "../studio.js";
import { bytes, field, h, select } from "../ui.js";
import { customSizes } from "./social_custom.js";
import { cropPreview } from "./social_plan.js";

export async function render(view, { query }) {
  const { platforms } = await get("/social/platforms");
  let focal = null;
  const names = new Map(platforms.flatMap((p) => p.formats.map((f) => [f.key, `${p.name} ${f.name} ${f.width}×${f.height}`])));

  const output = outputArea("Choose a photo and the platforms: every format's result shows here.");
  const preview = h("div", { class: "focal", hidden: true });
  const dot = h("span", { class: "dot", hidden: true });
  const focalText = h("p", { class: "muted", id: "focal-text" }, "Smart crop keeps faces or the busiest region; click the image to choose the focal point instead.");
  const img = h("img", { alt: "The uploaded image: click to set the focal point" });
  preview.append(img, dot);
  const crops = cropPreview(preview, (key) => names.get(key) || custom.label(key) || key, () => replan());
  const clearFocal = h("button", { type: "button", class: "ghost small", hidden: true, onclick: () => {
    focal = null; dot.hidden = true; clearFocal.hidden = true; delete preview.dataset.focal;
    focalText.textContent = "Smart crop keeps faces or the busiest region; click the image to choose the focal point instead.";
    replan();
  } }, "Clear focal point");
  img.addEventListener("click", (e) => {
    const box = img.getBoundingClientRect();
    focal = { x: (e.clientX - box.left) / box.width, y: (e.clientY - box.top) / box.height };
    focal.x = Math.min(1, Math.max(0, focal.x)); focal.y = Math.min(1, Math.max(0, focal.y));
    dot.style.left = `${focal.x * 100}%`; dot.style.top = `${focal.y * 100}%`; dot.hidden = false;
    focalText.textContent = `Focal point: ${(focal.x * 100).toFixed(0)}% across, ${(focal.y * 100).toFixed(0)}% down.`;
    preview.dataset.focal = `${focal.x.toFixed(3)},${focal.y.toFixed(3)}`;
    clearFocal.hidden = false;
    replan();
  });

  const form = h("form", { class: "card stack", "aria-label": "Social optimiser" });
  const custom = customSizes(form, () => replan());
  const source = imageSource(form, output, (uploaded, url) => { img.src = url; preview.hidden = false; crops.forget(); replan(); });

  const formats = h("div", { class: "stack" });
  const platformBoxes = platforms.map((p) => {
    const box = h("input", { type: "checkbox", value: p.id, name: "platform" });
    const list = h("fieldset", { class: "checks", hidden: true }, h("legend", {}, `${p.name} formats`),
      p.formats.map((f) => h("label", {}, h("input", { type: "checkbox", value: f.key, checked: true, name: "format" }),
        `${f.name} — ${f.width}×${f.height} (${f.aspect})`)));
    box.addEventListener("change", () => { list.hidden = !box.checked; });
    formats.append(list);
    return h("label", {}, box, p.name);
  });

  const crop = select([["smart", "Smart (faces, else salient)"], ["center", "Centre"], ["fit", "Fit (letterbox)"]], "smart");
  const output_format = select([["jpeg", "JPEG"], ["png", "PNG"], ["webp", "WebP"]], "jpeg");
  const quality = h("input", { type: "number", min: 1, max: 100, value: 90 });
  const safe = h("input", { type: "checkbox", name: "safe_zone_overlay", value: "on" });
  const go = h("button", { type: "submit" }, "Optimise");

  const chosenFormats = () => [
    ...[...form.querySelectorAll("fieldset.checks:not([hidden]) input[name=format]:checked")].map((b) => b.value),
    ...custom.chosen(),
  ];
  const request = () => {
    const body = {
      image: source.state.upload?.id ?? null, formats: chosenFormats(),
      crop_mode: crop.value, output_format: output_format.value, quality: Number(quality.value),
      safe_zone_overlay: safe.checked, zip: true,
    };
    if (focal && crop.value !== "fit") { body.focal_x = focal.x; body.focal_y = focal.y; }
    const adjusted = crop.value === "fit" ? undefined : crops.adjusted(body.formats);
    if (adjusted) body.crops = adjusted;
    return { path: "/social/optimize", body };
  };
  /** The crops of the chosen formats, drawn again whenever the image, formats, crop mode or focal point change. */
  function replan() {
    const { body } = request();
    crops.schedule(body.image && body.formats.length
      ? { image: body.image, formats: body.formats, crop_mode: body.crop_mode, focal_x: body.focal_x, focal_y: body.focal_y, crops: body.crops }
      : null);
  }
  form.addEventListener("change", (e) => { if (e.target.type !== "file" && !e.target.closest(".custom .field")) replan(); });
  form.append(source.el, preview, crops.status, h("div", { class: "row" }, focalText, clearFocal, crops.reset),
    h("fieldset", { class: "checks field", dataset: { field: "platforms" } }, h("legend", {}, "Platforms"), platformBoxes, h("p", { class: "error", hidden: true, role: "alert" })),
    formats, custom.el,
    h("div", { class: "row" }, field("Crop mode", crop, { name: "crop_mode" }), field("Output format", output_format, { name: "output_format" }),
      field("Quality", quality, { name: "quality" })),
    h("label", { class: "field inline" }, safe, "Safe-zone previews (shown with each result and added to the zip)"),
    copyAs(request), go);

  return studioJobs(view, {
    title: "Social optimiser", studio: "social", form, output, go, request, source, fromAsset: source.fromAsset, query,
    // Nothing chosen would render every format of every platform: ask instead.
    check: (body) => (body.formats.length ? null
      : new ApiError({ title: "Choose a platform", detail: "tick at least one platform (and its formats) or add a custom size to render", field: "platforms" })),
    followOptions: () => ({
      title: "Social job",
      label: (o) => names.get(o.name) || custom.label(o.name) || o.name,
      only: (o) => o.kind !== "archive", // the zip is the "Download all" button
      onDone: (fresh) => {
        const zip = fresh.outputs.find((o) => o.name.endsWith(".zip"));
        if (zip) output.el.querySelector(".job-live").after(h("p", {}, h("a", { class: "button", id: "download-zip", href: zip.url, download: zip.filename || zip.name }, `Download all (${bytes(zip.bytes)} zip)`)));
      },
    }),
  });
}
