// Sign-in with an access token. The token is checked against the server, then kept in this tab's
// sessionStorage only (gone when the tab closes; never in a URL, never in localStorage).
import { session, whoIs } from "../api.js";
import { field, h, showStatus, statusLine } from "../dom.js";
import { t } from "../i18n.js";

export function signInView({ notice, onSignedIn }) {
  const input = h("input", {
    type: "password",
    name: "token",
    autocomplete: "off",
    spellcheck: "false",
    required: true,
    placeholder: "ms-…",
  });
  const [tokenField] = field("signin.token", input, "signin.tokenHint");
  const status = statusLine();
  const button = h("button", { type: "submit", i18n: "signin.submit" });
  const form = h("form", { className: "card signin", "aria-labelledby": "signin-title" },
    h("h1", { id: "signin-title", tabindex: "-1", i18n: "signin.title" }),
    h("p", { i18n: "signin.intro" }),
    tokenField,
    h("div", { className: "actions" }, button),
    status,
    h("p", { className: "hint", i18n: "signin.where" }),
  );
  if (notice) showStatus(status, t(notice), "info");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const token = input.value.trim();
    if (!token) return;
    button.disabled = true;
    showStatus(status, t("signin.checking"));
    try {
      await whoIs(token);
      session.token = token;
      onSignedIn();
    } catch (error) {
      showStatus(status, error.status === 401 ? t("signin.invalid") : t("error.generic", { message: error.message }), "error");
      input.focus();
      input.select();
    } finally {
      button.disabled = false;
    }
  });
  return h("div", { className: "signin-wrap" }, form);
}
