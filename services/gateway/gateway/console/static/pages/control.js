// Control: an operation from GET /control/operations, its form built from the catalogue, a live
// estimate, the job's progress, and the results with the control map the provider was given.
import { get, post } from "../api.js";
import { copyAs, outputArea, studioJobs } from "../studio.js";
import { catalogueControl, catalogueValues, clearProblem, costEstimate, field, h, select, showProblem } from "../ui.js";

const label = (name) => name.replaceAll("_", " ").replace(/^./, (c) => c.toUpperCase());

/** Which providers can serve the operation, with credits; simulated ones labelled as such. */
function providerList(op) {
  return h("ul", { class: "plain", "aria-label": `Providers for ${op.name}` }, op.providers.map((p) =>
    h("li", { dataset: { provider: p.name } },
      `${p.name} · ${p.model} · ${p.credits} credits`,
      p.simulated ? h("span", { class: "chip simulated" }, "simulated") : null,
      !p.configured ? h("span", { class: "chip" }, "not configured") : !p.healthy ? h("span", { class: "chip failed" }, "failing") : null,
      p.applies.length ? null : h("span", { class: "muted" }, " (strengths not applied)"))));
}

/** A field's hint: the catalogue's description and, for a number, its bounds. */
function hint(spec) {
  const bounds = spec.minimum !== undefined && spec.maximum !== undefined ? ` Range ${spec.minimum}–${spec.maximum}.` : "";
  return `${spec.description || ""}${bounds}`.trim();
}

/** What the result cards say each output is. */
function outputLabel(output) {
  return output.name === "control_map"
    ? `Control map (${output.metadata?.kind === "edges" ? "edge map" : "line art"} the provider was given)`
    : `Result (${output.metadata?.served_by || output.name})`;
}

export async function render(view, { query }) {
  const { operations } = await get("/control/operations");
  const operation = select(operations.map((o) => [o.id, o.name]), operations[0].id);
  const describe = h("p", { class: "hint" });
  const providers = h("div", {});
  const inputs = h("div", {});
  const go = h("button", { type: "submit" }, "Run control");
  const output = outputArea("Choose the control image: it shows here, then the job's progress, the result and its control map.");
  const current = () => operations.find((o) => o.id === operation.value);
  const estimate = costEstimate("control", () => ({
    operation: operation.value, provider: inputs.querySelector(".field[data-field=provider] select")?.value || "auto",
  }));

  const build = () => {
    const op = current();
    describe.textContent = op.available ? op.description
      : `${op.description} No provider that can serve it is configured here: a job would be refused.`;
    providers.replaceChildren(providerList(op));
    inputs.replaceChildren(...[...op.required, ...op.optional].map((name) => {
      const spec = op.inputs[name];
      const required = op.required.includes(name) ? " (required)" : "";
      return field(`${label(name)}${required}`, catalogueControl(name, spec, op.defaults[name] ?? spec.default), { name, hint: hint(spec) });
    }));
  };
  operation.addEventListener("change", () => { clearProblem(form); build(); });
  const request = () => ({ path: "/control", body: { operation: operation.value, ...catalogueValues(inputs) } });
  const form = h("form", { class: "card", "aria-label": "Generate under an image's control" },
    field("Operation", operation, { name: "operation" }), describe, providers, inputs, estimate.el, copyAs(request), go);
  build();
  form.addEventListener("uploaded", (e) => {
    if (e.target.closest(".field")?.dataset.field === "image" && e.target.files[0]) output.preview(URL.createObjectURL(e.target.files[0]), e.target.files[0].name);
  });
  /** An earlier output as the control image: an upload made from it on the server. */
  const fromAsset = async (assetId) => {
    const picker = inputs.querySelector(".field[data-field=image] input[type=file]");
    try {
      const [asset, uploaded] = await Promise.all([get(`/assets/${assetId}`), post("/uploads", { asset_id: assetId })]);
      picker.dataset.upload = uploaded.id;
      picker.closest(".field").append(h("p", { class: "hint upload-state", role: "status" }, `Using ${asset.name}: ${uploaded.width}×${uploaded.height}`));
      output.preview(asset.url, asset.name);
    } catch (err) { showProblem(form, err); }
  };
  form.addEventListener("change", (e) => { if (e.target.type !== "file") estimate.refresh(); });
  await estimate.refresh();

  return studioJobs(view, { title: "Control", studio: "control", form, output, go, request, fromAsset, query,
    followOptions: () => ({ title: `${current().name} job`, label: outputLabel }) });
}
