// A newly created token: shown once, with a copy button; it is never shown again.
import { h } from "../dom.js";
import { t } from "../i18n.js";

/** `withDone`: a button that takes the token off the page once the user has copied it. */
export function shownOnce(token, messageKey, { withDone = false } = {}) {
  const value = h("input", { type: "text", readonly: true, value: token, className: "token-text", spellcheck: "false" });
  value.setAttribute("aria-label", t("tokens.newToken"));
  const copy = h("button", { type: "button", className: "secondary", i18n: "tokens.copy" });
  const copied = h("span", { className: "hint", role: "status" });
  copy.addEventListener("click", async () => {
    value.select();
    try {
      await navigator.clipboard.writeText(token);
    } catch {
      document.execCommand("copy"); // plain http on another host: no clipboard API
    }
    copied.textContent = t("tokens.copied");
  });
  value.addEventListener("focus", () => value.select());
  const box = h("div", { className: "shown-once", role: "alert", dataset: { prefix: token.slice(0, 11) } },
    h("p", { i18n: messageKey }), h("div", { className: "row tight" }, value, copy), copied);
  if (withDone) {
    const done = h("button", { type: "button", className: "secondary small", i18n: "tokens.done" });
    done.addEventListener("click", () => box.remove());
    box.append(h("div", { className: "actions" }, done));
  }
  return box;
}
