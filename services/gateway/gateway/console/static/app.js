// The shell: theme, sign-in, hash routing to one module per page.
import { ApiError, get, key } from "./api.js";
import { STUDIO_PAGES } from "./studios.js";
import { announce, field, fieldProblem, h, showProblem } from "./ui.js";

// A page per studio (pages/<studio>.js), from the registry's list (studios.js), and the console's own.
const PAGES = {
  "": "dashboard", ...Object.fromEntries(STUDIO_PAGES.map((s) => [s.name, s.name])), jobs: "jobs",
  assets: "assets", webhooks: "webhooks",
};
const TITLES = {
  dashboard: "Dashboard", ...Object.fromEntries(STUDIO_PAGES.map((s) => [s.name, s.title])),
  jobs: "Jobs", assets: "Assets", webhooks: "Webhooks",
};

const main = document.getElementById("main");
let leave = null; // the current page's clean-up (stops event streams)

function applyTheme(theme) {
  const dark = theme ? theme === "dark" : matchMedia("(prefers-color-scheme: dark)").matches;
  document.documentElement.dataset.theme = dark ? "dark" : "light";
  const button = document.getElementById("theme");
  button.setAttribute("aria-pressed", String(dark));
  button.textContent = dark ? "Light theme" : "Dark theme"; // what a press switches to
}
applyTheme(localStorage.getItem("imagestudio.theme"));
document.getElementById("theme").addEventListener("click", () => {
  const next = document.documentElement.dataset.theme === "dark" ? "light" : "dark";
  localStorage.setItem("imagestudio.theme", next);
  applyTheme(next);
});
// On a phone the studios fold behind a menu button, so the header stays one short line.
const menu = document.getElementById("menu");
const nav = document.getElementById("nav");
const setMenu = (open) => { menu.setAttribute("aria-expanded", String(open)); nav.classList.toggle("open", open); };
menu.addEventListener("click", () => setMenu(menu.getAttribute("aria-expanded") !== "true"));
nav.addEventListener("click", (e) => { if (e.target.closest("a")) setMenu(false); });
document.getElementById("signout").addEventListener("click", () => { key.clear(); location.hash = "#/"; route(); });

// `make up` links here with #key=<dev key>: keep it for the session, then drop it from the URL.
// A link never replaces a key already signed in on its own: anyone can send a link, and a
// silent switch would put the user's next uploads in the sender's account (login CSRF).
// Read on load and on every hash change (a link pasted into an open tab).
let offered = null; // a link's key waiting for the user's yes
function takeLinkKey() {
  const linked = new URLSearchParams(location.hash.slice(1)).get("key");
  if (!linked) return;
  history.replaceState(null, "", `${location.pathname}#/`);
  if (!key.get() || key.get() === linked) { key.set(linked); offered = null; } else offered = linked;
}

const shortKey = (value) => `${value.slice(0, 12)}…`;

function confirmSwitch() {
  document.title = "Switch key? · Image Studio";
  const use = h("button", { type: "button", id: "use-link-key" }, "Sign in with the link's key");
  const keep = h("button", { type: "button", id: "keep-key", class: "ghost" }, "Keep my current key");
  const card = h("section", { class: "card narrow", role: "alertdialog", "aria-labelledby": "switch-title" },
    h("h1", { id: "switch-title" }, "Sign in as the key from this link?"),
    h("p", {}, `You are signed in with ${shortKey(key.get())}. The link you opened carries another key, `,
      h("code", {}, shortKey(offered)), ". Only switch if you asked for this link: what you upload next goes to that key's account."),
    h("div", { class: "row" }, use, keep));
  const decide = (switching) => {
    if (switching) key.set(offered);
    offered = null;
    announce(switching ? "Signed in with the link's key." : "Kept your current key.");
    route();
  };
  use.addEventListener("click", () => decide(true));
  keep.addEventListener("click", () => decide(false));
  main.replaceChildren(card);
  keep.focus();
}

function signIn(message) {
  document.getElementById("nav").hidden = true;
  menu.hidden = true;
  document.getElementById("signout").hidden = true;
  document.title = "Sign in · Image Studio";
  const input = h("input", { type: "password", autocomplete: "off", required: true, spellcheck: false });
  const button = h("button", { type: "submit" }, "Sign in");
  const form = h("form", { class: "card narrow", "aria-label": "Sign in" },
    h("h1", {}, "Sign in"),
    h("p", {}, "Paste an API key. It is kept in this browser tab only, until you close it."),
    field("API key", input, { name: "key" }), button);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    key.set(input.value.trim());
    button.disabled = true;
    try {
      await get("/credits?limit=1");
      route();
    } catch (err) {
      key.clear();
      showProblem(form, err instanceof ApiError && err.status === 401
        ? fieldProblem(err, "key", "This key was not accepted: check it was copied whole and is not revoked.") : err);
    } finally { button.disabled = false; }
  });
  main.replaceChildren(form);
  if (message) showProblem(form, new ApiError({ title: "Signed out", detail: message, field: "key" }));
  input.focus();
}

async function route() {
  leave?.(); leave = null;
  for (const open of document.querySelectorAll("dialog.viewer")) open.close(); // a large view belongs to the page left
  takeLinkKey();
  if (!key.get()) return signIn();
  if (offered) return confirmSwitch();
  document.getElementById("nav").hidden = false;
  menu.hidden = false;
  document.getElementById("signout").hidden = false;
  const [path, query = ""] = location.hash.replace(/^#\/?/, "").split("?");
  const [name, ...rest] = path.split("/");
  const page = PAGES[name] || "dashboard";
  for (const a of document.querySelectorAll("#nav a")) {
    const current = a.getAttribute("href") === `#/${name}`;
    if (current) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
  document.title = `${TITLES[page]} · Image Studio`;
  const view = h("div", { class: "page", dataset: { page } });
  main.replaceChildren(view);
  try {
    const module = await import(`./pages/${page}.js`);
    leave = await module.render(view, { args: rest, query: new URLSearchParams(query) });
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) { key.clear(); return signIn("The key is no longer accepted."); }
    view.append(h("div", { class: "problem", role: "alert" }, err.problem ? `${err.problem.title}: ${err.problem.detail}` : String(err)));
  }
  main.focus({ preventScroll: true });
}

addEventListener("hashchange", route);
route();
