// The console's entry point: sign-in, the navigation between views, the language switch.
// Views are built once, when first shown, and kept (hidden) while another is shown, so a streaming
// answer or a running image task goes on when the user looks elsewhere.
import { onUnauthorized, session, whoIs } from "./api.js";
import { announce, h, setText, translate } from "./dom.js";
import { currentLanguage, LANGUAGES, onLanguageChange, setLanguage, t } from "./i18n.js";
import { signInView } from "./views/signin.js";

const VIEWS = [
  { route: "chat", label: "nav.chat", load: () => import("./views/chat.js") },
  { route: "images", label: "nav.images", load: () => import("./views/images.js") },
  { route: "usage", label: "nav.usage", load: () => import("./views/usage.js") },
  { route: "tokens", label: "nav.tokens", load: () => import("./views/tokens.js") },
  { route: "admin/users", label: "nav.admin.users", admin: true, load: () => import("./views/admin-users.js") },
  { route: "admin/tokens", label: "nav.admin.tokens", admin: true, load: () => import("./views/admin-tokens.js") },
  { route: "admin/models", label: "nav.admin.models", admin: true, load: () => import("./views/admin-models.js") },
  { route: "admin/usage", label: "nav.admin.usage", admin: true, load: () => import("./views/admin-usage.js") },
];

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const mounted = new Map(); // route -> Promise<{ section, view }>
let me = null;
let current = null; // the route asked for last

function routeOf(hash) {
  const route = hash.replace(/^#\/?/, "");
  const view = VIEWS.find((v) => v.route === route && (!v.admin || me?.is_admin));
  return view ? view.route : null;
}

function buildNav() {
  const links = (views) =>
    views.map((v) => h("li", {}, h("a", { href: `#/${v.route}`, i18n: v.label, dataset: { route: v.route } })));
  const list = h("ul", { className: "nav-list" }, links(VIEWS.filter((v) => !v.admin)));
  nav.replaceChildren(list);
  if (me.is_admin) {
    const heading = h("span", { className: "nav-group", id: "nav-admin", i18n: "nav.admin" });
    const adminLinks = h("ul", { className: "nav-list", "aria-labelledby": "nav-admin" }, links(VIEWS.filter((v) => v.admin)));
    nav.append(h("div", { className: "nav-admin" }, heading, adminLinks));
  }
  nav.hidden = false;
}

async function mount(route) {
  const definition = VIEWS.find((v) => v.route === route);
  const section = h("section", { className: "view", dataset: { view: route }, hidden: true });
  const module = await definition.load();
  const view = module.default({ me, section });
  main.append(section);
  return { section, view };
}

async function show(route) {
  current = route;
  for (const link of nav.querySelectorAll("a[data-route]")) {
    if (link.dataset.route === route) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  // The promise is kept at once, so two quick calls for one route (start-up and a hash change) mount it once.
  if (!mounted.has(route)) mounted.set(route, mount(route));
  const entry = await mounted.get(route);
  if (current !== route) return; // another view was asked for while this one loaded
  for (const [name, other] of mounted) (await other).section.hidden = name !== route;
  entry.view.show?.();
  const heading = entry.section.querySelector("h1");
  document.title = `${heading ? heading.textContent : ""} · OpenMaaS`;
  heading?.setAttribute("tabindex", "-1");
  heading?.focus({ preventScroll: false });
}

function onHashChange() {
  if (!me) return;
  const route = routeOf(location.hash);
  if (route) show(route);
  else if (!location.hash.startsWith("#/")) return; // an in-page anchor, not a view
  else location.replace("#/chat");
}

function signOut(messageKey) {
  session.token = null;
  sessionStorage.removeItem("openmaas.console.chat");
  if (messageKey) sessionStorage.setItem("openmaas.console.notice", messageKey);
  location.replace(location.pathname); // a clean page: nothing of the last session stays in memory
}

async function start() {
  const notice = sessionStorage.getItem("openmaas.console.notice");
  sessionStorage.removeItem("openmaas.console.notice");
  const token = session.token;
  if (token) {
    try {
      me = await whoIs(token);
    } catch {
      session.token = null;
    }
  }
  if (!me) {
    main.replaceChildren(signInView({ notice, onSignedIn: () => location.reload() }));
    main.querySelector("h1")?.focus();
    return;
  }
  const who = document.getElementById("whoami");
  setText(who, me.is_admin ? ["whoami.admin", { name: me.name }] : ["whoami", { name: me.name }]);
  const signout = document.getElementById("signout");
  signout.hidden = false;
  signout.addEventListener("click", () => signOut("signin.signedOut"));
  onUnauthorized(() => signOut("signin.expired"));
  document.addEventListener("openmaas:signout", (event) => signOut(event.detail));
  buildNav();
  window.addEventListener("hashchange", onHashChange);
  const route = routeOf(location.hash) || "chat";
  if (location.hash !== `#/${route}`) history.replaceState(null, "", `#/${route}`);
  await show(route);
}

function setUpLanguage() {
  const select = document.getElementById("lang");
  for (const [code, name] of Object.entries(LANGUAGES)) select.append(h("option", { value: code }, name));
  select.value = currentLanguage();
  select.addEventListener("change", () => {
    setLanguage(select.value);
    announce(t("lang.changed"));
  });
  onLanguageChange(() => {
    translate(document.body);
    const heading = main.querySelector("section:not([hidden]) h1, h1");
    if (heading) document.title = `${heading.textContent} · OpenMaaS`;
  });
  setLanguage(currentLanguage());
}

document.getElementById("skip").addEventListener("click", (event) => {
  event.preventDefault();
  const target = main.querySelector("section:not([hidden]) h1") || main;
  target.setAttribute("tabindex", "-1");
  target.focus();
});

setUpLanguage();
start();
