// The social page's crop preview: the server's plan (POST /social/plan) drawn over the photo, each
// format's crop adjustable by hand (drag its label to move it, its corner to resize it at the
// format's aspect ratio; mouse, pen and touch alike through pointer events, arrow keys too).
import { get, post } from "../api.js";
import { h } from "../ui.js";

const WAIT = "wait=10";
/** Quiet time after the last change before a plan is asked for. */
const DEBOUNCE_MS = 250;
/** The smallest crop a drag makes, in source pixels along its shorter side. */
const MIN_SIDE = 32;
/** Arrow keys move a crop by this share of the photo (with Shift: resize it). */
const KEY_STEP = 0.02;

/** Why a format's faces or subject stayed outside its safe zone, by the plan's ``zoom_limit``. */
const WHY_OUTSIDE = {
  bound: "placing it inside needs more zoom than the zoom bound allows",
  source_resolution: "the photo has too few pixels to zoom in: a closer crop would be smaller than the format, and blurred",
  no_zoom_fits: "no zoom can place it inside: too large for the safe area, or too near the photo's edge",
};

/** One sentence per format whose faces or subject the plan left outside the safe zone, saying why. */
function outsideNotes(plan, label) {
  return plan.formats.filter((entry) => entry.inside_safe_zone === false).map((entry) => {
    const what = entry.placed_on === "faces" ? "the faces stay" : "the subject stays";
    const why = WHY_OUTSIDE[entry.zoom_limit] || "it could not be placed inside";
    return h("li", { dataset: { format: entry.format, zoomLimit: entry.zoom_limit } },
      `${label(entry.format)}: ${what} outside the safe zone at zoom ${entry.zoom.toFixed(2)}× — ${why}.`);
  });
}

const clamp = (value, low, high) => Math.min(high, Math.max(low, value));

/** A box of ``aspect`` (width / height) ``width`` wide at (x, y), whole pixels, held inside the photo. */
function fitted(x, y, width, aspect, plan) {
  const W = plan.source_width, H = plan.source_height;
  let w = clamp(Math.round(width), Math.round(MIN_SIDE * Math.max(1, aspect)), W);
  let h = Math.round(w / aspect);
  if (h > H) { h = H; w = Math.round(h * aspect); }
  return [clamp(Math.round(x), 0, W - w), clamp(Math.round(y), 0, H - h), w, h];
}

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
 * A crop moved or resized by hand is kept (``adjusted()``, the request's ``crops``) and
 * ``onAdjust()`` is called once the pointer is let go.
 */
export function cropPreview(preview, label, onAdjust = () => {}) {
  const layer = h("div", { class: "crop-layer" });
  const status = h("p", { class: "muted", id: "crop-plan-status", role: "status" });
  /** Crops set by hand, by format key: [x, y, width, height] in source pixels. */
  const adjusted = new Map();
  const reset = h("button", { type: "button", class: "ghost small", id: "reset-crops", hidden: true, onclick: () => {
    adjusted.clear(); reset.hidden = true; onAdjust();
  } }, "Reset adjusted crops");
  preview.append(layer);
  let timer = null;
  let asked = 0;

  /** Make one drawn crop box draggable: ``grip`` moves it, ``corner`` resizes it at its format's aspect. */
  const adjustable = (box, entry, plan) => {
    const aspect = entry.width / entry.height;
    const name = label(entry.format);
    const grip = box.querySelector(".crop-label");
    const corner = h("button", { type: "button", class: "crop-handle", "aria-label": `Resize the ${name} crop (Shift + arrow keys)` });
    box.append(corner);
    const commit = (next) => {
      place(box, next, plan);
      box.dataset.adjusted = "true";
      adjusted.set(entry.format, next);
      reset.hidden = false;
    };
    const drag = (handle, resize) => {
      handle.addEventListener("pointerdown", (down) => {
        down.preventDefault();
        asked++; // an answer already on its way must not undo the drag
        handle.setPointerCapture(down.pointerId);
        const rect = layer.getBoundingClientRect();
        const scale = plan.source_width / rect.width;
        const start = box.dataset.box.split(",").map(Number);
        const move = (e) => {
          const dx = (e.clientX - down.clientX) * scale, dy = (e.clientY - down.clientY) * scale;
          if (resize) {
            const grow = Math.abs(dx) >= Math.abs(dy * aspect) ? dx : dy * aspect;
            const width = Math.min(start[2] + grow, plan.source_width - start[0], (plan.source_height - start[1]) * aspect);
            place(box, fitted(start[0], start[1], width, aspect, plan), plan);
          } else {
            place(box, fitted(start[0] + dx, start[1] + dy, start[2], aspect, plan), plan);
          }
        };
        const up = () => {
          handle.removeEventListener("pointermove", move);
          handle.removeEventListener("pointerup", up);
          handle.removeEventListener("pointercancel", up);
          const end = box.dataset.box.split(",").map(Number);
          if (end.join(",") === start.join(",")) return; // a click, not a drag
          layer.dataset.pointer = down.pointerType; // mouse, pen or touch: what the last drag used
          commit(end);
          onAdjust();
        };
        handle.addEventListener("pointermove", move);
        handle.addEventListener("pointerup", up);
        handle.addEventListener("pointercancel", up);
      });
      handle.addEventListener("keydown", (e) => {
        const steps = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] }[e.key];
        if (!steps) return;
        e.preventDefault();
        const [x, y, w] = box.dataset.box.split(",").map(Number);
        const step = KEY_STEP * plan.source_width;
        commit(e.shiftKey || resize
          ? fitted(x, y, Math.min(w + (steps[0] || -steps[1]) * step, plan.source_width - x, (plan.source_height - y) * aspect), aspect, plan)
          : fitted(x + steps[0] * step, y + steps[1] * step, w, aspect, plan));
        onAdjust();
      });
    };
    grip.setAttribute("aria-label", `Move the ${name} crop (drag, or arrow keys)`);
    drag(grip, false);
    drag(corner, true);
  };

  const draw = (plan) => {
    layer.replaceChildren();
    layer.dataset.sourceWidth = plan.source_width;
    layer.dataset.sourceHeight = plan.source_height;
    const subjects = new Map();
    for (const entry of plan.formats) {
      if (entry.subject_box) subjects.set(entry.subject_box.join(","), entry.subject_box);
      for (const face of entry.faces) subjects.set(`face:${face.join(",")}`, face);
      if (!entry.crop_box) continue; // fit mode letterboxes the whole photo: nothing to crop
      const box = place(h("div", { class: "crop-box", dataset: { format: entry.format, zoom: entry.zoom, zoomLimit: entry.zoom_limit, setBy: entry.crop_set_by || "studio" } },
        h("button", { type: "button", class: "crop-label" }, label(entry.format))), entry.crop_box, plan);
      if (adjusted.has(entry.format)) box.dataset.adjusted = "true";
      layer.append(box);
      adjustable(box, entry, plan);
    }
    for (const [id, box] of subjects) {
      layer.append(place(h("div", { class: id.startsWith("face:") ? "subject-box face" : "subject-box" }), box, plan));
    }
    const shown = plan.formats.filter((f) => f.crop_box).length;
    status.textContent = plan.crop_mode === "fit"
      ? "Fit mode keeps the whole photo in every format (letterboxed): no crop to show."
      : `Crops of ${shown} format${shown === 1 ? "" : "s"} drawn over the photo (the dashed boxes are what smart crop keeps); drag a crop's label to move it, its corner to resize it.`;
    const notes = outsideNotes(plan, label);
    if (notes.length) status.append(h("ul", { class: "crop-notes", id: "crop-plan-notes" }, notes));
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
    reset,
    /** The crops set by hand among ``formats`` (the request's ``crops``), or undefined when none. */
    adjusted(formats) {
      const chosen = [...adjusted].filter(([key]) => formats.includes(key));
      if (!chosen.length) return undefined;
      return Object.fromEntries(chosen.map(([key, [x, y, width, height]]) => [key, { x, y, width, height }]));
    },
    /** Forget every crop set by hand (a new photo). */
    forget() { adjusted.clear(); reset.hidden = true; },
    /** Redraw for this request after a quiet spell; ``null`` (no image or no format) clears the boxes. */
    schedule(body) {
      clearTimeout(timer);
      if (!body) { asked++; layer.replaceChildren(); status.textContent = ""; return; }
      timer = setTimeout(() => ask(body), DEBOUNCE_MS);
    },
  };
}
