// Compress: upload, then compress (preset, quality, target kB or target SSIM) or convert; sizes, SSIM, download.
import { get } from "../api.js";
import { copyAs, imageSource, outputArea, studioJobs } from "../studio.js";
import { bytes, costEstimate, field, h, select } from "../ui.js";

/** What a compress or convert output's metadata says, as the lines the result card shows. */
export function compressDetails(meta) {
  if (!meta || meta.bytes_before === undefined) return [];
  const saved = Math.round(meta.reduction * 1000) / 10;
  return [
    h("span", { class: "sizes" }, `${bytes(meta.bytes_before)} → ${bytes(meta.bytes_after)} (${saved >= 0 ? `${saved} % smaller` : `${-saved} % larger`})`),
    h("span", {}, `${meta.format.toUpperCase()}${meta.quality != null ? ` · quality ${meta.quality}` : " · lossless"}${meta.palette ? " · palette" : ""}`),
    h("span", { class: "ssim" }, `SSIM ${meta.ssim.toFixed(4)}`),
    meta.kept_source ? h("span", { class: "chip", title: "The source already met the target and was smaller" }, "source kept") : null,
    meta.frames_dropped ? h("span", {}, `${meta.frames_dropped} frames dropped`) : null,
  ];
}

export async function render(view, { query }) {
  const options = await get("/compress/options");
  const operation = select([["compress", "Compress"], ["convert", "Convert"]], "compress");
  const mode = select([["target_ssim", "Smallest without visible loss (target SSIM)"], ["target_kb", "Fit a size (target kB)"],
    ["quality", "Quality"], ["preset", "Preset"]], "target_ssim");
  const targetSsim = h("input", { type: "number", min: 0.5, max: 1, step: 0.001, value: 0.98 });
  const targetKb = h("input", { type: "number", min: 1, step: 1, value: 150 });
  const quality = h("input", { type: "number", min: 1, max: 100, value: 80 });
  const preset = select(options.presets.map((p) => [p.id, `${p.name} (${p.format.toUpperCase()} q${p.quality})`]), options.presets[0].id);
  const writable = (op) => options.formats.filter((f) => f[op] && f.available);
  const formats = {
    compress: [["", "The source's own"], ...writable("compress").map((f) => [f.id, f.id.toUpperCase()])],
    convert: writable("convert").map((f) => [f.id, f.id.toUpperCase()]),
  };
  const format = select(formats.compress, "");
  const transparency = select([["", "Preserve where the format can"], ["flatten", "Flatten on the background"]], "");
  const background = h("input", { type: "color", value: "#ffffff" });
  const metadata = select([["strip", "Strip (ICC kept when colours need it)"], ["keep", "Keep"]], "strip");
  const boxes = {
    target_ssim: field("Target SSIM", targetSsim, { name: "target_ssim", hint: "0.98: no visible loss for most photos" }),
    target_kb: field("Target size (kB)", targetKb, { name: "target_kb" }),
    quality: field("Quality", quality, { name: "quality" }),
    preset: field("Preset", preset, { name: "preset" }),
  };
  const compressFields = h("div", { class: "stack" }, field("Mode", mode, { name: "mode" }), ...Object.values(boxes));
  const convertFields = h("div", { class: "row", hidden: true },
    field("Transparency", transparency, { name: "transparency" }), field("Background", background, { name: "background" }));
  const go = h("button", { type: "submit" }, "Compress");
  const output = outputArea("Choose an image: it shows here, then the search for the smallest file, then the result.");

  const body = () => {
    if (operation.value === "convert") {
      const b = { format: format.value, metadata: metadata.value };
      if (transparency.value === "flatten") { b.transparency = "flatten"; b.background = background.value; }
      return b;
    }
    const b = { metadata: metadata.value };
    const number = (input) => input.value === "" ? undefined : Number(input.value); // empty: the server's default
    if (mode.value === "target_ssim") b.target_ssim = number(targetSsim);
    else if (mode.value === "target_kb") b.target_kb = number(targetKb);
    else if (mode.value === "quality") b.quality = number(quality);
    else b.preset = preset.value;
    if (mode.value !== "preset" && format.value) b.format = format.value;
    return b;
  };
  const estimate = costEstimate(() => operation.value, body);
  let shownFor = "compress";
  const show = () => {
    const converting = operation.value === "convert";
    if (shownFor !== operation.value) { // the formats the chosen route writes
      shownFor = operation.value;
      format.replaceChildren(...select(formats[shownFor], converting ? "webp" : "").children);
    }
    compressFields.hidden = converting; convertFields.hidden = !converting;
    for (const [name, box] of Object.entries(boxes)) box.hidden = name !== mode.value;
    format.disabled = !converting && mode.value === "preset"; // a preset sets the format
    background.disabled = transparency.value !== "flatten";
    go.textContent = converting ? "Convert" : "Compress";
  };

  const form = h("form", { class: "card", "aria-label": "Compress or convert an image" });
  const source = imageSource(form, output);
  const request = () => ({ path: operation.value === "convert" ? "/convert" : "/compress", body: { image: source.state.upload?.id ?? null, ...body() } });
  form.append(source.el,
    field("Operation", operation, { name: "operation" }), compressFields, field("Format", format, { name: "format" }), convertFields,
    field("Metadata", metadata, { name: "metadata" }), estimate.el, copyAs(request), go);
  form.addEventListener("change", () => { show(); estimate.refresh(); });
  form.addEventListener("input", (e) => { if (e.target.type === "number") estimate.refresh(); }); // as the user types
  show();
  await estimate.refresh();

  return studioJobs(view, { title: "Compress", studio: "compress", form, output, go, request, source, fromAsset: source.fromAsset, query,
    followOptions: (job) => ({ title: job.studio === "convert" ? "Conversion" : "Compression", before: source.state.url,
      details: (o) => compressDetails(o.metadata) }) });
}
