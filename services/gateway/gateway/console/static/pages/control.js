// Control: an operation from GET /control/operations, its form built from the catalogue, a live
// estimate, the job's progress, and the results with the control map the provider was given.
import { get, submit } from "../api.js";
import { busy, catalogueControl, catalogueValues, clearProblem, costEstimate, field, h, jobPanel, outputsGrid, select, showProblem } from "../ui.js";

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

export async function render(view) {
  const { operations } = await get("/control/operations");
  let stop = () => {};
  const operation = select(operations.map((o) => [o.id, o.name]), operations[0].id);
  const describe = h("p", { class: "hint" });
  const providers = h("div", {});
  const inputs = h("div", {});
  const go = h("button", { type: "submit" }, "Run control");
  const results = h("div", { class: "stack", id: "results" });
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
  const form = h("form", { class: "card", "aria-label": "Generate under an image's control" },
    field("Operation", operation, { name: "operation" }), describe, providers, inputs, estimate.el, go);
  build();
  form.addEventListener("change", (e) => { if (e.target.type !== "file") estimate.refresh(); });
  await estimate.refresh();

  form.addEventListener("submit", async (e) => {
    e.preventDefault(); clearProblem(form);
    const op = current();
    const done = busy(go, "Submitting…");
    try {
      const job = await submit("/control", { operation: op.id, ...catalogueValues(inputs) });
      stop();
      const panel = jobPanel(job, { title: `${op.name} job`, onDone: (fresh) => results.append(outputsGrid(fresh, { label: outputLabel })) });
      stop = panel.stop;
      results.replaceChildren(panel.el);
    } catch (err) { showProblem(form, err); } finally { done(); }
  });
  view.append(h("h1", {}, "Control"), h("div", { class: "cols" }, form, results));
  return () => stop();
}
