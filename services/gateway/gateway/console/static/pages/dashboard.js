// Dashboard: credits, recent jobs with live status, a card per studio.
import { get } from "../api.js";
import { STUDIO_PAGES } from "../studios.js";
import { h, jobPanel, statusChip, when } from "../ui.js";

/** What each studio's card says (prose; a studio without a line gets a card all the same). */
const BLURBS = {
  create: "Images from a prompt, a template and a persona, on any provider.",
  edit: "Remove a background, inpaint with a mask, outpaint, erase, recolour, relight.",
  upscale: "Fast 4x, or up to about 4 MP keeping or re-imagining detail; compare before and after.",
  social: "One image cropped to every platform format, with safe zones and a zip.",
  control: "A new image that follows a photo's structure, style or sketch.",
  compress: "The smallest file without visible loss, a target size, or another format.",
};
const STUDIOS = STUDIO_PAGES.map((s) => [s.name, s.title, BLURBS[s.name] || ""]);

/** The pages beside the studios, one tap from the dashboard on a phone too (the nav is behind a menu there). */
const LIBRARY = [
  ["jobs", "Jobs", "Every job with its progress, results, cost and Run again."],
  ["assets", "Assets", "Your images and results: favourites, tags, search."],
  ["webhooks", "Webhooks", "Endpoints told when a job changes; send a test event."],
];

export async function render(view) {
  const [credits, jobs] = await Promise.all([get("/credits?limit=200"), get("/jobs?limit=8")]);
  const month = new Date().toISOString().slice(0, 7);
  const used = credits.entries
    .filter((e) => e.created_at.startsWith(month) && e.kind === "capture")
    .reduce((sum, e) => sum - e.balance_delta, 0);
  const stat = (label, value, id) => h("div", { class: "card" }, h("div", { class: "muted" }, label), h("div", { class: "stat", id }, value));
  const stops = [];
  const recent = h("ul", { class: "stack plain", "aria-label": "Recent jobs" },
    jobs.items.map((job) => {
      if (["queued", "running"].includes(job.status)) {
        const panel = jobPanel(job, { title: `${job.studio} · ${when(job.created_at)}` });
        stops.push(panel.stop);
        return h("li", {}, panel.el);
      }
      return h("li", { class: "card row" }, h("a", { href: `#/jobs/${job.id}` }, `${job.studio} · ${when(job.created_at)}`), statusChip(job.status));
    }));
  view.append(
    h("h1", {}, "Dashboard"),
    h("section", { "aria-label": "Credits", class: "grid" },
      stat("Available credits", credits.available, "credits-available"),
      stat("Balance", credits.balance, "credits-balance"),
      stat("Reserved by running jobs", credits.reserved, "credits-reserved"),
      stat(`Used this month (${credits.tier}, ${credits.monthly_credits}/month)`, used, "credits-month")),
    h("h2", {}, "Studios"),
    h("div", { class: "grid" }, STUDIOS.map(([id, name, text]) =>
      h("a", { class: "card tile", href: `#/${id}` }, h("strong", {}, name), h("span", { class: "muted" }, text)))),
    h("h2", {}, "Your work"),
    h("div", { class: "grid" }, LIBRARY.map(([id, name, text]) =>
      h("a", { class: "card tile", href: `#/${id}` }, h("strong", {}, name), h("span", { class: "muted" }, text)))),
    h("h2", {}, "Recent jobs"),
    jobs.items.length ? recent : h("p", { class: "muted" }, "No jobs yet: start one from a studio."),
    h("p", {}, h("a", { href: "#/jobs" }, "All jobs")));
  return () => stops.forEach((stop) => stop());
}
