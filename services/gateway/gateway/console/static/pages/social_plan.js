// The social page's crop preview: the server's plan (POST /social/plan) drawn over the photo.
import { get, post } from "../api.js";
import { h } from "../ui.js";

const WAIT = "wait=10";
/** Quiet time after the last change before a plan is asked for. */
const DEBOUNCE_MS = 250;

/** A box in source pixels as a percentage rectangle of the photo (the overlay scales with it). */
function place(el, [left, top, width, height], plan) {
  el.style.left = `${(100 * left) / plan.source_width}%`;
  el.style.top = `${(100 * top) / plan.source_height}%`;
  el.style.width = `${(100 * width) / plan.source_width}%`;
  el.style.height = `${(100 * height) / plan.source_height}%`;
  el.dataset.box = [left, top, width, height].join(",");
  return el;
}

/** The plan inside a finished plan job (a 202 without the wait's answer is polled a few times). */
async function planOf(job) {
  for (let round = 0; round < 20 && !["succeeded", "failed", "canceled"].includes(job.status); round++) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    job = await get(`/jobs/${job.id}`);
  }
  const output = job.outputs?.find((o) => o.name === "plan");
  if (!output) throw new Error(job.error?.detail || "the crop plan did not finish");
  return output.metadata;
}

/**
 * The overlay over ``preview`` (the photo's positioned box) and ``schedule(body)``: after a quiet
 * spell, asks for the plan of ``body`` (a social request) and draws each format's crop labelled
 * with ``label(key)``, and the subject and face boxes. Only the newest answer is drawn.
 */
export function cropPreview(preview, label) {
  const layer = h("div", { class: "crop-layer", "aria-hidden": "true" });
  const status = h("p", { class: "muted", id: "crop-plan-status", role: "status" });
  preview.append(layer);
  let timer = null;
  let asked = 0;

  const draw = (plan) => {
    layer.replaceChildren();
    layer.dataset.sourceWidth = plan.source_width;
    layer.dataset.sourceHeight = plan.source_height;
    const subjects = new Map();
    for (const entry of plan.formats) {
      if (entry.subject_box) subjects.set(entry.subject_box.join(","), entry.subject_box);
      for (const face of entry.faces) subjects.set(`face:${face.join(",")}`, face);
      if (!entry.crop_box) continue; // fit mode letterboxes the whole photo: nothing to crop
      layer.append(place(h("div", { class: "crop-box", dataset: { format: entry.format, zoom: entry.zoom } },
        h("span", { class: "crop-label" }, label(entry.format))), entry.crop_box, plan));
    }
    for (const [id, box] of subjects) {
      layer.append(place(h("div", { class: id.startsWith("face:") ? "subject-box face" : "subject-box" }), box, plan));
    }
    const shown = plan.formats.filter((f) => f.crop_box).length;
    status.textContent = plan.crop_mode === "fit"
      ? "Fit mode keeps the whole photo in every format (letterboxed): no crop to show."
      : `Crops of ${shown} format${shown === 1 ? "" : "s"} drawn over the photo (the dashed boxes are what smart crop keeps).`;
  };

  const ask = async (body) => {
    const mine = ++asked;
    status.textContent = "Working out the crops…";
    try {
      const plan = await planOf(await post("/social/plan", body, { headers: { Prefer: WAIT } }));
      if (mine === asked) { draw(plan); layer.dataset.planned = String(mine); }
    } catch (err) {
      if (mine === asked) { layer.replaceChildren(); status.textContent = `No crop preview: ${err.message}`; }
    }
  };

  return {
    status,
    /** Redraw for this request after a quiet spell; ``null`` (no image or no format) clears the boxes. */
    schedule(body) {
      clearTimeout(timer);
      if (!body) { asked++; layer.replaceChildren(); status.textContent = ""; return; }
      timer = setTimeout(() => ask(body), DEBOUNCE_MS);
    },
  };
}
