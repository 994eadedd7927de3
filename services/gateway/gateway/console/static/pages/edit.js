// Edit: upload, an operation from the catalogue (its form built from its inputs), a mask editor.
import { get, upload } from "../api.js";
import { copyAs, imageSource, outputArea, studioJobs } from "../studio.js";
import { catalogueControl, catalogueValues, field, h, select } from "../ui.js";

/** A catalogue name as a label: `background_reference` → "Background reference"; `path` → "Where it runs". */
const LABELS = { path: "Where it runs", seed: "Seed (repeatable result)" };
const label = (name) => LABELS[name] || name.replaceAll("_", " ").replace(/^./, (c) => c.toUpperCase());

/** A canvas over the image: paint (tinted) where the edit goes; brush, eraser, size, undo (Ctrl+Z), redo (Ctrl+Shift+Z, Ctrl+Y), invert, clear.
 * Where the operation takes a point (erase), "Click picks the object" turns a click into the point, in source pixels. */
function maskEditor(img) {
  const canvas = h("canvas", { "aria-label": "Mask: paint the area to change", role: "img" });
  canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
  const ctx = canvas.getContext("2d");
  const history = []; const redone = [];
  const TINT = "#ff2d55";
  const size = h("input", { type: "range", min: 4, max: 200, value: 40 });
  const eraser = h("input", { type: "checkbox" });
  const snapshot = () => ctx.getImageData(0, 0, canvas.width, canvas.height);
  const save = () => { history.push(snapshot()); redone.length = 0; if (history.length > 30) history.shift(); };
  const back = (from, to) => { if (!from.length) return; to.push(snapshot()); ctx.putImageData(from.pop(), 0, 0); };
  let painting = false; let last = null;
  const point = (e) => {
    const box = canvas.getBoundingClientRect();
    return [(e.clientX - box.left) * canvas.width / box.width, (e.clientY - box.top) * canvas.height / box.height];
  };
  const dab = (e) => {
    const [x, y] = point(e);
    const scale = canvas.width / canvas.getBoundingClientRect().width;
    ctx.globalCompositeOperation = eraser.checked ? "destination-out" : "source-over";
    const radius = (Number(size.value) / 2) * scale;
    ctx.fillStyle = ctx.strokeStyle = TINT; ctx.lineWidth = radius * 2; ctx.lineCap = "round";
    if (last) { ctx.beginPath(); ctx.moveTo(...last); ctx.lineTo(x, y); ctx.stroke(); } // a fast stroke stays continuous
    ctx.beginPath(); ctx.arc(x, y, radius, 0, Math.PI * 2); ctx.fill();
    last = [x, y];
    canvas.dataset.painted = "true";
  };
  const brush = h("div", { class: "brush", hidden: true });
  const outline = (e) => {
    const box = canvas.getBoundingClientRect();
    brush.style.setProperty("--x", `${e.clientX - box.left}px`); brush.style.setProperty("--y", `${e.clientY - box.top}px`);
    brush.style.setProperty("--d", `${size.value}px`); brush.hidden = false;
  };
  const pick = h("input", { type: "checkbox" });
  const pickField = h("label", { class: "field inline", hidden: true }, pick, "Click picks the object");
  const marker = h("div", { class: "point-marker", hidden: true });
  let onPick = () => {};
  canvas.addEventListener("pointerdown", (e) => {
    if (!pickField.hidden && pick.checked) {
      const [x, y] = point(e);
      const px = Math.min(canvas.width - 1, Math.max(0, Math.floor(x))); const py = Math.min(canvas.height - 1, Math.max(0, Math.floor(y)));
      marker.style.setProperty("--px", `${(px + 0.5) * 100 / canvas.width}%`); marker.style.setProperty("--py", `${(py + 0.5) * 100 / canvas.height}%`);
      marker.hidden = false; canvas.dataset.point = `${px},${py}`;
      onPick(px, py);
      return;
    }
    save(); painting = true; last = null; canvas.setPointerCapture(e.pointerId); dab(e); });
  canvas.addEventListener("pointermove", (e) => { outline(e); if (painting) dab(e); });
  canvas.addEventListener("pointerup", () => { painting = false; last = null; });
  canvas.addEventListener("pointerleave", () => { brush.hidden = true; });
  const onKey = (e) => {
    if (!canvas.isConnected) { document.removeEventListener("keydown", onKey); return; }
    if (!(e.ctrlKey || e.metaKey) || e.target.matches("input[type=text],textarea")) return;
    const key = e.key.toLowerCase();
    if (key === "z" && !e.shiftKey) { e.preventDefault(); back(history, redone); }
    else if (key === "y" || (key === "z" && e.shiftKey)) { e.preventDefault(); back(redone, history); }
  };
  document.addEventListener("keydown", onKey);
  const stageBox = h("div", { class: "mask-stage" }, img, canvas, brush, marker);
  // Zoom enlarges the stage inside a scroller (pan by scrolling); strokes map through the box, so they stay true.
  const zoom = select([["1", "Fit"], ["2", "200%"], ["3", "300%"], ["4", "400%"]], "1");
  zoom.addEventListener("change", () => { stageBox.style.setProperty("--zoom", zoom.value); stageBox.classList.toggle("zoomed", zoom.value !== "1"); });
  const undo = h("button", { type: "button", class: "ghost small", title: "Ctrl+Z", onclick: () => back(history, redone) }, "Undo");
  const redo = h("button", { type: "button", class: "ghost small", title: "Ctrl+Shift+Z", onclick: () => back(redone, history) }, "Redo");
  const invert = h("button", { type: "button", class: "ghost small", onclick: () => {
    save();
    const data = ctx.getImageData(0, 0, canvas.width, canvas.height);
    for (let i = 3; i < data.data.length; i += 4) { data.data[i - 3] = 255; data.data[i - 2] = 45; data.data[i - 1] = 85; data.data[i] = 255 - data.data[i]; }
    ctx.putImageData(data, 0, 0);
  } }, "Invert");
  const clear = h("button", { type: "button", class: "ghost small", onclick: () => { save(); ctx.clearRect(0, 0, canvas.width, canvas.height); delete canvas.dataset.painted; } }, "Clear");
  const el = h("div", { class: "stack" },
    h("div", { class: "mask-scroll", tabindex: 0, "aria-label": "Mask, scroll to pan" }, stageBox),
    h("div", { class: "row" }, field("Brush size", size), field("Zoom", zoom, { name: "mask_zoom" }), h("label", { class: "field inline" }, eraser, "Eraser"), pickField, undo, redo, invert, clear));
  /** The mask as a PNG of the image's size: white where painted (whatever the tint), black elsewhere. */
  const toBlob = () => new Promise((resolve) => {
    const white = h("canvas"); white.width = canvas.width; white.height = canvas.height;
    const w = white.getContext("2d");
    w.drawImage(canvas, 0, 0); w.globalCompositeOperation = "source-in"; w.fillStyle = "#fff"; w.fillRect(0, 0, white.width, white.height);
    const out = h("canvas"); out.width = canvas.width; out.height = canvas.height;
    const o = out.getContext("2d");
    o.fillStyle = "#000"; o.fillRect(0, 0, out.width, out.height); o.drawImage(white, 0, 0);
    out.toBlob(resolve, "image/png");
  });
  /** Show "Click picks the object" (operations taking point_x/point_y) and send each picked point to ``callback``. */
  const pickable = (on, callback) => {
    pickField.hidden = !on; onPick = callback;
    if (!on) { pick.checked = false; marker.hidden = true; delete canvas.dataset.point; }
  };
  return { el, toBlob, pickable, painted: () => canvas.dataset.painted === "true" };
}

export async function render(view, { query }) {
  const { operations } = await get("/edit/operations");
  let mask = null;
  const stage = h("div", {});
  const inputs = h("div", {});
  const operation = select(operations.map((o) => [o.id, o.name]), operations[0].id);
  const describe = h("p", { class: "hint" });
  const go = h("button", { type: "submit" }, "Run edit");
  const output = outputArea("Choose an image: it shows here, then the edit's progress and result.");
  const form = h("form", { class: "card", "aria-label": "Edit an image" });
  const source = imageSource(form, output, async (uploaded, url, name) => {
    const img = h("img", { alt: `The image to edit: ${name}`, src: url });
    try { await img.decode(); } catch { return; }
    mask = maskEditor(img);
    stage.replaceChildren(mask.el);
    syncPick();
  });
  /** A picked point fills the catalogue's point_x and point_y fields. */
  const pickTo = (x, y) => {
    for (const [name, value] of [["point_x", x], ["point_y", y]]) {
      const control = inputs.querySelector(`.field[data-field=${name}] input`);
      if (control) control.value = value;
    }
  };
  const syncPick = () => {
    const op = operations.find((o) => o.id === operation.value);
    if (mask) mask.pickable(op.optional.includes("point_x"), pickTo);
  };
  const build = () => {
    const op = operations.find((o) => o.id === operation.value);
    describe.textContent = `${op.description} ${op.provider ? `${op.provider.credits} credits via ${op.provider.name}${op.provider.simulated ? " (simulated: a placeholder result)" : ""}` : ""}${op.local?.available ? "; local path free" : ""}`;
    inputs.replaceChildren(...[...op.required, ...op.optional]
      .filter((name) => !["image", "mask"].includes(name))
      .map((name) => field(`${label(name)}${op.required.includes(name) ? " (required)" : ""}`, catalogueControl(name, op.inputs[name]), { name, hint: op.inputs[name].description })));
    stage.hidden = !(op.needs_area || op.optional.includes("mask"));
    syncPick();
  };
  operation.addEventListener("change", build);
  form.append(source.el, field("Operation", operation, { name: "operation" }), describe, stage, inputs);
  const request = () => ({ path: "/edit", body: { operation: operation.value, image: source.state.upload?.id ?? null, ...catalogueValues(inputs) } });
  form.append(copyAs(request), go);
  build();
  const prepare = async (body) => {
    if (mask && !stage.hidden && mask.painted()) {
      go.textContent = "Uploading mask…";
      body.mask = (await upload(new File([await mask.toBlob()], "mask.png", { type: "image/png" }))).id;
    }
  };
  return studioJobs(view, { title: "Edit", studio: "edit", form, output, go, request, prepare, source, fromAsset: source.fromAsset, query,
    followOptions: (job) => ({ title: `${operations.find((o) => o.id === job.params?.operation)?.name || "Edit"} job`, before: source.state.url }) });
}
