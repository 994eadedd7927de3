// Edit: upload, an operation from the catalogue (its form built from its inputs), a mask editor.
import { get, submit, upload } from "../api.js";
import { busy, catalogueControl, catalogueValues, clearProblem, dropZone, field, followImageJob, h, select, showProblem, uploadWithStatus } from "../ui.js";

/** A canvas over the image: paint white where the edit goes; brush, eraser, size, undo, invert, clear. */
function maskEditor(img) {
  const canvas = h("canvas", { "aria-label": "Mask: paint the area to change", role: "img" });
  canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
  const ctx = canvas.getContext("2d");
  const history = [];
  const size = h("input", { type: "range", min: 4, max: 200, value: 40 });
  const eraser = h("input", { type: "checkbox" });
  const save = () => { history.push(ctx.getImageData(0, 0, canvas.width, canvas.height)); if (history.length > 30) history.shift(); };
  let painting = false;
  const point = (e) => {
    const box = canvas.getBoundingClientRect();
    return [(e.clientX - box.left) * canvas.width / box.width, (e.clientY - box.top) * canvas.height / box.height];
  };
  const dab = (e) => {
    const [x, y] = point(e);
    const scale = canvas.width / canvas.getBoundingClientRect().width;
    ctx.globalCompositeOperation = eraser.checked ? "destination-out" : "source-over";
    ctx.fillStyle = "#fff";
    ctx.beginPath(); ctx.arc(x, y, (Number(size.value) / 2) * scale, 0, Math.PI * 2); ctx.fill();
    canvas.dataset.painted = "true";
  };
  canvas.addEventListener("pointerdown", (e) => { save(); painting = true; canvas.setPointerCapture(e.pointerId); dab(e); });
  canvas.addEventListener("pointermove", (e) => { if (painting) dab(e); });
  canvas.addEventListener("pointerup", () => { painting = false; });
  const undo = h("button", { type: "button", class: "ghost small", onclick: () => { if (history.length) ctx.putImageData(history.pop(), 0, 0); } }, "Undo");
  const invert = h("button", { type: "button", class: "ghost small", onclick: () => {
    save();
    const data = ctx.getImageData(0, 0, canvas.width, canvas.height);
    for (let i = 3; i < data.data.length; i += 4) { data.data[i - 3] = data.data[i - 2] = data.data[i - 1] = 255; data.data[i] = 255 - data.data[i]; }
    ctx.putImageData(data, 0, 0);
  } }, "Invert");
  const clear = h("button", { type: "button", class: "ghost small", onclick: () => { save(); ctx.clearRect(0, 0, canvas.width, canvas.height); delete canvas.dataset.painted; } }, "Clear");
  const el = h("div", { class: "stack" },
    h("div", { class: "mask-stage" }, img, canvas),
    h("div", { class: "row" }, field("Brush size", size), h("label", { class: "field inline" }, eraser, "Eraser"), undo, invert, clear));
  /** The mask as a PNG of the image's size: white where painted, black elsewhere. */
  const toBlob = () => new Promise((resolve) => {
    const out = h("canvas"); out.width = canvas.width; out.height = canvas.height;
    const o = out.getContext("2d");
    o.fillStyle = "#000"; o.fillRect(0, 0, out.width, out.height); o.drawImage(canvas, 0, 0);
    out.toBlob(resolve, "image/png");
  });
  return { el, toBlob, painted: () => canvas.dataset.painted === "true" };
}

export async function render(view) {
  const { operations } = await get("/edit/operations");
  let image = null; let file = null; let mask = null; let stop = () => {};
  const status = h("p", { class: "muted", role: "status" });
  const stage = h("div", {});
  const inputs = h("div", {});
  const operation = select(operations.map((o) => [o.id, o.name]), operations[0].id);
  const describe = h("p", { class: "hint" });
  const go = h("button", { type: "submit" }, "Run edit");
  const results = h("div", { class: "stack", id: "results" });
  const zone = dropZone(async (chosen) => {
    clearProblem(form);
    try {
      image = await uploadWithStatus(chosen, status, upload); file = chosen;
      const img = h("img", { alt: "The image to edit", src: URL.createObjectURL(chosen) });
      await img.decode();
      mask = maskEditor(img);
      stage.replaceChildren(mask.el);
      form.dataset.upload = image.id;
    } catch (err) { status.textContent = ""; showProblem(form, err); }
  });
  zone.dataset.field = "image";
  const build = () => {
    const op = operations.find((o) => o.id === operation.value);
    describe.textContent = `${op.description} ${op.provider ? `${op.provider.credits} credits via ${op.provider.name}${op.provider.simulated ? " (simulated)" : ""}` : ""}${op.local?.available ? "; local path free" : ""}`;
    inputs.replaceChildren(...[...op.required, ...op.optional]
      .filter((name) => !["image", "mask"].includes(name))
      .map((name) => field(`${name.replaceAll("_", " ")}${op.required.includes(name) ? " (required)" : ""}`, catalogueControl(name, op.inputs[name]), { name, hint: op.inputs[name].description })));
    stage.hidden = !(op.needs_area || op.optional.includes("mask"));
  };
  operation.addEventListener("change", build);
  const form = h("form", { class: "card", "aria-label": "Edit an image" }, zone, status, field("Operation", operation, { name: "operation" }), describe, stage, inputs, go);
  build();
  form.addEventListener("submit", async (e) => {
    e.preventDefault(); clearProblem(form);
    const op = operations.find((o) => o.id === operation.value);
    const done = busy(go, "Submitting…");
    try {
      const body = { operation: op.id, image: image?.id ?? null, ...catalogueValues(inputs) };
      if (mask && !stage.hidden && mask.painted()) {
        go.textContent = "Uploading mask…";
        body.mask = (await upload(new File([await mask.toBlob()], "mask.png", { type: "image/png" }))).id;
      }
      const job = await submit("/edit", body);
      stop();
      stop = followImageJob(results, job, { title: `${op.name} job`, before: file });
    } catch (err) { showProblem(form, err); } finally { done(); }
  });
  view.append(h("h1", {}, "Edit"), h("div", { class: "cols" }, form, results));
  return () => stop();
}
