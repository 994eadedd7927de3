// Social: upload once, pick platforms and formats, click the focal point, see every result.
import { get, submit, upload } from "../api.js";
import { busy, bytes, clearProblem, dropZone, field, h, jobPanel, outputsGrid, select, showProblem, uploadWithStatus } from "../ui.js";

export async function render(view) {
  const { platforms } = await get("/social/platforms");
  let uploaded = null;
  let focal = null;
  let stop = () => {};

  const status = h("p", { class: "muted", role: "status" });
  const preview = h("div", { class: "focal", hidden: true });
  const dot = h("span", { class: "dot", hidden: true });
  const focalText = h("p", { class: "muted", id: "focal-text" }, "Smart crop keeps faces or the busiest region; click the image to choose the focal point instead.");
  const img = h("img", { alt: "The uploaded image: click to set the focal point" });
  preview.append(img, dot);
  img.addEventListener("click", (e) => {
    const box = img.getBoundingClientRect();
    focal = { x: (e.clientX - box.left) / box.width, y: (e.clientY - box.top) / box.height };
    focal.x = Math.min(1, Math.max(0, focal.x)); focal.y = Math.min(1, Math.max(0, focal.y));
    dot.style.left = `${focal.x * 100}%`; dot.style.top = `${focal.y * 100}%`; dot.hidden = false;
    focalText.textContent = `Focal point: ${(focal.x * 100).toFixed(0)}% across, ${(focal.y * 100).toFixed(0)}% down.`;
    preview.dataset.focal = `${focal.x.toFixed(3)},${focal.y.toFixed(3)}`;
  });

  const zone = dropZone(async (file) => {
    clearProblem(form);
    try {
      uploaded = await uploadWithStatus(file, status, upload);
      img.src = URL.createObjectURL(file);
      preview.hidden = false;
      form.dataset.upload = uploaded.id;
    } catch (err) { status.textContent = ""; showProblem(form, err); }
  });
  zone.dataset.field = "image";

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
  const output = select([["jpeg", "JPEG"], ["png", "PNG"], ["webp", "WebP"]], "jpeg");
  const quality = h("input", { type: "number", min: 1, max: 100, value: 90 });
  const safe = h("input", { type: "checkbox", checked: true });
  const go = h("button", { type: "submit" }, "Optimise");
  const results = h("div", { class: "stack", id: "results" });

  const form = h("form", { class: "card stack", "aria-label": "Social optimiser" },
    zone, status, preview, focalText,
    h("fieldset", { class: "checks field", dataset: { field: "platforms" } }, h("legend", {}, "Platforms"), platformBoxes, h("p", { class: "error", hidden: true, role: "alert" })),
    formats,
    h("div", { class: "row" }, field("Crop mode", crop, { name: "crop_mode" }), field("Output format", output, { name: "output_format" }),
      field("Quality", quality, { name: "quality" })),
    h("label", { class: "field inline" }, safe, "Safe-zone previews"),
    go);

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearProblem(form);
    const chosen = [...form.querySelectorAll("fieldset.checks:not([hidden]) input[name=format]:checked")].map((b) => b.value);
    const body = {
      image: uploaded?.id ?? null,
      formats: chosen.length ? chosen : null, // none chosen: every format of every platform
      crop_mode: crop.value, output_format: output.value, quality: Number(quality.value),
      safe_zone_overlay: safe.checked, zip: true,
    };
    if (focal && crop.value !== "fit") { body.focal_x = focal.x; body.focal_y = focal.y; }
    const done = busy(go, "Submitting…");
    try {
      const job = await submit("/social/optimize", body);
      stop();
      const panel = jobPanel(job, {
        title: "Social job",
        onDone: (fresh) => {
          const zip = fresh.outputs.find((o) => o.name.endsWith(".zip"));
          const images = { ...fresh, outputs: fresh.outputs.filter((o) => o !== zip) };
          results.append(
            zip ? h("p", {}, h("a", { class: "button", id: "download-zip", href: zip.url, download: zip.name }, `Download all (${bytes(zip.bytes)} zip)`)) : null,
            outputsGrid(images, { label: (o) => o.metadata?.format_name ? `${o.metadata.platform} · ${o.metadata.format_name}` : `${o.name} (${o.kind})` }));
        },
      });
      stop = panel.stop;
      results.replaceChildren(panel.el);
    } catch (err) { showProblem(form, err); } finally { done(); }
  });

  view.append(h("h1", {}, "Social optimiser"), h("div", { class: "cols" }, form, results));
  return () => stop();
}
