// Webhooks: the tenant's endpoints (create, rotate the secret, disable), the delivery log, redeliver.
import { get, openapi, post, request } from "../api.js";
import { announce, bringIntoView, busy, clearProblem, field, h, pager, secretOnce, select, showProblem, statusChip, when } from "../ui.js";

/** The event types an endpoint can ask for, as the API's own schema lists them. */
async function eventTypes() {
  const spec = await openapi();
  return spec.components.schemas.WebhookEventType.enum.filter((e) => e !== "webhook.test"); // sent on request only
}

export async function render(view) {
  const [{ items }, events] = await Promise.all([get("/webhooks/endpoints"), eventTypes()]);
  const shown = h("div", { id: "secret-shown" });
  const url = h("input", { type: "url", required: true, placeholder: "https://partner.example/hooks/imagestudio" });
  const description = h("input", { type: "text", maxlength: 500 });
  const create = h("button", { type: "submit" }, "Add endpoint");
  const form = h("form", { class: "card", "aria-label": "Add an endpoint" },
    h("h2", {}, "Add an endpoint"),
    field("URL", url, { name: "url" }), field("Description", description, { name: "description" }),
    h("fieldset", { class: "checks field", dataset: { field: "event_types" } }, h("legend", {}, "Events (none chosen: every event)"),
      events.map((e) => h("label", {}, h("input", { type: "checkbox", name: "event", value: e }), e)),
      h("p", { class: "error", hidden: true, role: "alert" })),
    create);

  const rows = h("tbody");
  const table = h("div", { class: "table-wrap" }, h("table", { id: "endpoints" },
    h("caption", { class: "visually-hidden" }, "Endpoints"),
    h("thead", {}, h("tr", {}, ["URL", "Events", "State", "Secret", "Actions"].map((t) => h("th", { scope: "col" }, t)))), rows));
  const actions = h("div", {});
  const noEndpoints = h("p", { class: "muted", hidden: items.length > 0 }, "No endpoints yet.");
  const endpointRow = (endpoint) => {
    const rotate = h("button", { type: "button", class: "ghost small", dataset: { action: "rotate" } }, "Rotate secret");
    const toggle = h("button", { type: "button", class: "ghost small", dataset: { action: "toggle" } }, endpoint.enabled ? "Disable" : "Enable");
    const log = h("button", { type: "button", class: "ghost small", dataset: { action: "log" } }, "Deliveries");
    const test = h("button", { type: "button", class: "ghost small", dataset: { action: "test" } }, "Send test event");
    test.addEventListener("click", async () => {
      clearProblem(actions);
      const done = busy(test, "Sending…");
      try {
        await post(`/webhooks/endpoints/${endpoint.id}/test`);
        announce("Test event sent: see it in the delivery log");
        endpointFilter.value = endpoint.id; await deliveries.load(true);
        const newest = view.querySelector("ul.deliveries > li"); // the event's delivery, in view
        if (newest) bringIntoView(newest);
      } catch (err) { showProblem(actions, err); } finally { done(); }
    });
    rotate.addEventListener("click", async () => {
      clearProblem(actions);
      const done = busy(rotate, "Rotating…");
      try {
        const fresh = await post(`/webhooks/endpoints/${endpoint.id}/rotate-secret`);
        shown.replaceChildren(secretOnce(`New secret for ${fresh.url} (the old one also signs until ${when(fresh.previous_secret_expires_at)})`, fresh.secret));
        replaceRow(fresh);
      } catch (err) { showProblem(actions, err); } finally { done(); }
    });
    toggle.addEventListener("click", async () => {
      clearProblem(actions);
      const done = busy(toggle, "Saving…");
      try { replaceRow(await request(`/webhooks/endpoints/${endpoint.id}`, { method: "PATCH", body: { enabled: !endpoint.enabled } })); }
      catch (err) { done(); showProblem(actions, err); }
    });
    log.addEventListener("click", () => { endpointFilter.value = endpoint.id; deliveries.load(true); });
    return h("tr", { dataset: { endpoint: endpoint.id, enabled: String(endpoint.enabled) } },
      h("td", {}, h("code", {}, endpoint.url), endpoint.description ? h("div", { class: "muted" }, endpoint.description) : null),
      h("td", {}, endpoint.event_types.length ? endpoint.event_types.join(", ") : "every event"),
      h("td", {}, h("span", { class: `chip ${endpoint.enabled ? "succeeded" : "failed"}` }, endpoint.enabled ? "enabled" : "disabled"),
        endpoint.disabled_reason ? h("div", { class: "muted" }, endpoint.disabled_reason) : null,
        endpoint.failed_deliveries ? h("div", { class: "muted" }, `${endpoint.failed_deliveries} failed in a row`) : null),
      h("td", {}, h("code", {}, endpoint.secret_hint)),
      h("td", {}, h("div", { class: "row" }, test, rotate, toggle, log)));
  };
  const replaceRow = (endpoint) => {
    const old = rows.querySelector(`[data-endpoint="${endpoint.id}"]`);
    const row = endpointRow(endpoint);
    if (old) old.replaceWith(row); else rows.append(row);
    noEndpoints.hidden = true;
    if (!endpointFilter.querySelector(`option[value="${endpoint.id}"]`)) endpointFilter.append(h("option", { value: endpoint.id }, endpoint.url));
  };

  form.addEventListener("submit", async (e) => {
    e.preventDefault(); clearProblem(form);
    const done = busy(create, "Adding…");
    try {
      const chosen = [...form.querySelectorAll("input[name=event]:checked")].map((b) => b.value);
      const endpoint = await post("/webhooks/endpoints", { url: url.value.trim(), description: description.value, event_types: chosen });
      shown.replaceChildren(secretOnce(`Signing secret for ${endpoint.url}`, endpoint.secret));
      replaceRow(endpoint);
      form.reset();
      announce("Endpoint added");
    } catch (err) { showProblem(form, err); } finally { done(); }
  });

  // The delivery log: newest first, each attempt under its delivery, redeliver on any.
  const endpointFilter = select([["", "Every endpoint"], ...items.map((e) => [e.id, e.url])], "");
  const statusFilter = select([["", "Any status"], "pending", "succeeded", "failed"], "");
  const refresh = h("button", { type: "button", class: "ghost", id: "refresh-deliveries" }, "Refresh");
  const logFilters = h("form", { class: "row", "aria-label": "Filter deliveries" }, field("Endpoint", endpointFilter), field("Status", statusFilter), refresh);
  const log = h("ul", { class: "stack deliveries", "aria-label": "Deliveries" });
  const deliveryItem = (d) => {
    const again = h("button", { type: "button", class: "ghost small", dataset: { action: "redeliver" } }, "Redeliver");
    again.addEventListener("click", async () => {
      clearProblem(logFilters);
      const done = busy(again, "Sending…");
      try { await post(`/webhooks/deliveries/${d.id}/redeliver`); announce("Redelivery queued"); await deliveries.load(true); }
      catch (err) { done(); showProblem(logFilters, err); }
    });
    return h("li", { class: "card delivery", dataset: { delivery: d.id, status: d.status, attempts: String(d.attempts) } },
      h("div", { class: "row" }, h("strong", {}, d.event_type), statusChip(d.status),
        d.job_id ? h("a", { href: `#/jobs/${d.job_id}` }, `job ${d.job_id.slice(0, 8)}`) : null,
        h("span", { class: "muted" }, when(d.created_at)), again),
      h("div", { class: "muted" }, h("code", {}, d.url), d.next_attempt_at ? ` — next attempt ${when(d.next_attempt_at)}` : ""),
      h("details", {}, h("summary", {}, `${d.attempts} attempt${d.attempts === 1 ? "" : "s"}${d.last_status_code ? `, last HTTP ${d.last_status_code}` : ""}`),
        h("div", { class: "table-wrap" }, h("table", { class: "attempts" },
          h("thead", {}, h("tr", {}, ["#", "Sent", "HTTP", "Latency", "Error or reply"].map((t) => h("th", { scope: "col" }, t)))),
          h("tbody", {}, (d.attempt_log || []).map((a) => h("tr", {},
            h("td", {}, a.number), h("td", {}, when(a.started_at)), h("td", {}, a.status_code ?? "—"),
            h("td", {}, `${a.latency_ms} ms`), h("td", {}, a.error || a.response_excerpt || ""))))))));
  };
  const deliveries = pager("/webhooks/deliveries", () => {
    const p = new URLSearchParams({ limit: "20" });
    if (endpointFilter.value) p.set("endpoint_id", endpointFilter.value);
    if (statusFilter.value) p.set("status", statusFilter.value);
    return p;
  }, (page, reset) => {
    if (reset) log.replaceChildren();
    log.append(...page.items.map(deliveryItem));
    empty.hidden = log.children.length > 0;
  });
  const empty = h("p", { class: "muted", hidden: true }, "No deliveries yet: they appear when a job's status changes.");
  logFilters.addEventListener("change", () => deliveries.load(true));
  refresh.addEventListener("click", async () => { const done = busy(refresh, "Refreshing…"); try { await deliveries.load(true); } finally { done(); } });

  for (const endpoint of items) rows.append(endpointRow(endpoint));
  await deliveries.load(true);
  // While a delivery is pending, look again every few seconds (bounded: at most ten minutes).
  let rounds = 0;
  const timer = setInterval(() => {
    if (++rounds > 200) clearInterval(timer);
    else if (log.querySelector("[data-status=pending]") && !log.querySelector("details[open]")) deliveries.load(true);
  }, 3000);
  view.append(h("h1", {}, "Webhooks"),
    h("p", { class: "muted" }, "Endpoints receive every job event of this tenant, signed with the endpoint's secret (Standard Webhooks)."),
    h("div", { class: "cols" }, h("div", { class: "stack" }, form, shown),
      h("section", { class: "stack", "aria-label": "Endpoints" }, h("h2", {}, "Endpoints"), actions,
        noEndpoints, table)),
    h("h2", {}, "Delivery log"), logFilters, log, empty, deliveries.more);
  return () => clearInterval(timer);
}
