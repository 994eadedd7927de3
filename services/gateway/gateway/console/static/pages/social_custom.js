// The social page's "Add a custom size": sizes of the user's own, sent in `formats` beside catalogue keys.
import { ApiError } from "../api.js";
import { field, h, showProblem } from "../ui.js";

/** The API's bounds for a custom format (imagestudio.studios.social.platforms). */
const MIN_SIDE = 16;
const MAX_SIDE = 8192;
const NAME = /^[A-Za-z0-9_-]{1,40}$/;
const KEPT = "imagestudio.state.social.custom";

/** A custom format's key in a job's outputs and a plan (`custom.<name>`). */
export const customKey = (format) => `custom.${format.name.toLowerCase()}`;

/**
 * The control inside ``form``: ``el`` to place, ``chosen()`` the ticked sizes as API objects and
 * ``label(key)`` a size's human name. ``onChange`` runs when a size is added, ticked or removed.
 */
export function customSizes(form, onChange) {
  const sizes = JSON.parse(sessionStorage.getItem(KEPT) || "[]");
  const name = h("input", { type: "text", maxlength: 40, placeholder: "partner_banner", autocomplete: "off" });
  const width = h("input", { type: "number", min: MIN_SIDE, max: MAX_SIDE, placeholder: "1200" });
  const height = h("input", { type: "number", min: MIN_SIDE, max: MAX_SIDE, placeholder: "1500" });
  const list = h("ul", { class: "custom-sizes" });
  const save = () => sessionStorage.setItem(KEPT, JSON.stringify(sizes));

  const wrong = (where, detail) => showProblem(form, new ApiError({ title: "Custom size", detail, field: where }));
  const add = () => {
    const size = { name: name.value.trim(), width: Number(width.value), height: Number(height.value), checked: true };
    if (!NAME.test(size.name)) return wrong("custom_name", "use letters, digits, - or _ (up to 40)");
    if (sizes.some((s) => customKey(s) === customKey(size))) return wrong("custom_name", "a custom size already has this name");
    for (const [where, value] of [["custom_width", size.width], ["custom_height", size.height]]) {
      if (!Number.isInteger(value) || value < MIN_SIDE || value > MAX_SIDE) return wrong(where, `a whole number of pixels from ${MIN_SIDE} to ${MAX_SIDE}`);
    }
    showProblem(form, null);
    sizes.push(size);
    name.value = ""; width.value = ""; height.value = "";
    draw(); save(); onChange();
  };

  function draw() {
    list.replaceChildren(...sizes.map((size) => {
      const tick = h("input", { type: "checkbox", class: "custom-format", value: customKey(size), checked: size.checked,
        onchange: () => { size.checked = tick.checked; save(); } });
      const remove = h("button", { type: "button", class: "ghost small", "aria-label": `Remove ${size.name}`,
        onclick: () => { sizes.splice(sizes.indexOf(size), 1); draw(); save(); onChange(); } }, "Remove");
      return h("li", { dataset: { format: customKey(size) } }, h("label", {}, tick, `${size.name} — ${size.width}×${size.height}`), remove);
    }));
  }
  draw();
  for (const input of [name, width, height]) {
    input.addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); add(); } });
  }

  const el = h("fieldset", { class: "field custom", dataset: { field: "formats" } },
    h("legend", {}, "Custom sizes"),
    h("div", { class: "row" }, field("Name", name, { name: "custom_name" }), field("Width (px)", width, { name: "custom_width" }),
      field("Height (px)", height, { name: "custom_height" }),
      h("button", { type: "button", class: "ghost", id: "add-custom-size", onclick: add }, "Add a custom size")),
    list, h("p", { class: "error", hidden: true, role: "alert" }));
  return {
    el,
    chosen: () => sizes.filter((s) => s.checked).map(({ name: n, width: w, height: ht }) => ({ name: n, width: w, height: ht })),
    label: (key) => {
      const size = sizes.find((s) => customKey(s) === key);
      return size ? `${size.name} ${size.width}×${size.height}` : null;
    },
  };
}
