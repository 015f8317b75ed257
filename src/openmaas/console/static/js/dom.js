// Small DOM helpers. Text always goes in as text (textContent), never as HTML: what users and models
// write cannot inject markup. The only HTML the console inserts is sanitised Markdown (markdown.js).
import { t } from "./i18n.js";

let uid = 0;

/** A unique element id with a readable prefix. */
export function newId(prefix) {
  uid += 1;
  return `${prefix}-${uid}`;
}

/**
 * Create an element. `attrs`: attributes and properties; `on*` functions become listeners, `i18n` a
 * translated text (kept up to date when the language changes), `dataset` an object, `hidden` etc.
 * booleans. Children: nodes, strings (as text), or null/false (skipped).
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2).toLowerCase(), value);
    } else if (name === "i18n") {
      setText(el, value);
    } else if (name === "i18nAttrs") {
      for (const [attr, key] of Object.entries(value)) setAttr(el, attr, key);
    } else if (name === "dataset") {
      Object.assign(el.dataset, value);
    } else if (name === "className") {
      el.className = value;
    } else if (value === true) {
      el.setAttribute(name, "");
    } else if (name === "value" || name === "checked") {
      el[name] = value;
    } else {
      el.setAttribute(name, String(value));
    }
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Replace an element's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/** A translated text that follows language changes: `key` or [key, vars]. */
export function setText(el, key) {
  const [name, vars] = Array.isArray(key) ? key : [key, undefined];
  el.dataset.i18n = name;
  if (vars) el.dataset.i18nVars = JSON.stringify(vars);
  else delete el.dataset.i18nVars;
  el.textContent = t(name, vars);
  return el;
}

/** A translated attribute (aria-label, placeholder, title) that follows language changes. */
export function setAttr(el, attr, key) {
  const attrs = JSON.parse(el.dataset.i18nAttrs || "{}");
  attrs[attr] = key;
  el.dataset.i18nAttrs = JSON.stringify(attrs);
  el.setAttribute(attr, t(key));
  return el;
}

/** Re-translate every marked element under `root` (after a language change). */
export function translate(root) {
  for (const el of root.querySelectorAll("[data-i18n]")) {
    const vars = el.dataset.i18nVars ? JSON.parse(el.dataset.i18nVars) : undefined;
    el.textContent = t(el.dataset.i18n, vars);
  }
  for (const el of root.querySelectorAll("[data-i18n-attrs]")) {
    for (const [attr, key] of Object.entries(JSON.parse(el.dataset.i18nAttrs))) {
      el.setAttribute(attr, t(key));
    }
  }
}

/** A labelled form field: returns [wrapper, control]. `hint` is linked with aria-describedby. */
export function field(labelKey, control, hintKey) {
  control.id ||= newId("field");
  const label = h("label", { for: control.id, i18n: labelKey });
  const wrapper = h("div", { className: "field" }, label, control);
  if (hintKey) {
    const hint = h("p", { className: "hint", id: newId("hint"), i18n: hintKey });
    control.setAttribute("aria-describedby", hint.id);
    wrapper.append(hint);
  }
  return [wrapper, control];
}

/**
 * A data table in a scrollable region (keyboard-focusable, labelled). `columns`: [{key, label, cell}]
 * where `cell(row)` returns a node or text; `label` is an i18n key; `header: true` makes the column the
 * row headers.
 */
export function table(captionKey, columns, rows, { emptyKey = "table.empty", showCaption = false } = {}) {
  // The caption names the table for screen readers; it is shown where no heading above says it.
  const caption = h("caption", { i18n: captionKey, className: showCaption ? null : "visually-hidden" });
  const head = h("tr", {}, columns.map((c) => h("th", { scope: "col", i18n: c.label })));
  const body = rows.length
    ? rows.map((row) => h("tr", {}, columns.map((c) => h(c.header ? "th" : "td", c.header ? { scope: "row" } : {}, c.cell(row)))))
    : [h("tr", {}, h("td", { colspan: columns.length, className: "empty", i18n: emptyKey }))];
  const region = h("div", { className: "table-scroll", role: "region", tabindex: "0" });
  setAttr(region, "aria-label", captionKey);
  region.append(h("table", {}, caption, h("thead", {}, head), h("tbody", {}, body)));
  return region;
}

/** Say something to screen readers (the page's polite live region). */
export function announce(message) {
  const el = document.getElementById("announcer");
  if (!el) return;
  el.textContent = "";
  window.setTimeout(() => {
    el.textContent = message;
  }, 50);
}

/** A status line (role=status) that shows an error or a notice. */
export function statusLine() {
  return h("p", { className: "status", role: "status", "aria-live": "polite" });
}

export function showStatus(el, text, kind = "info") {
  el.textContent = text || "";
  el.dataset.kind = kind;
}

/** A date and time in the page's language, in the browser's time zone or the given IANA `zone`. */
export function formatDateTime(iso, zone) {
  if (!iso) return "";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  try {
    return date.toLocaleString(document.documentElement.lang, zone ? { timeZone: zone } : {});
  } catch {
    return date.toLocaleString(document.documentElement.lang);
  }
}

export function formatNumber(value) {
  return value === null || value === undefined ? "" : Number(value).toLocaleString(document.documentElement.lang);
}

/** Seconds as "5 h 03 min", "12 min", "40 s". */
export function formatDuration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  const hours = Math.floor(s / 3600);
  const minutes = Math.floor((s % 3600) / 60);
  if (hours) return t("duration.hm", { h: hours, m: String(minutes).padStart(2, "0") });
  if (minutes) return t("duration.m", { m: minutes });
  return t("duration.s", { s });
}
