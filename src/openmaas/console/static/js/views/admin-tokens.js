// Admin: every user's tokens (prefixes only), filtered by user, with revoke.
import { del, get } from "../api.js";
import { announce, field, fill, formatDateTime, h, showStatus, statusLine, table } from "../dom.js";
import { onLanguageChange, t } from "../i18n.js";

export default function adminTokensView({ me, section }) {
  const user = h("select", { name: "user" });
  const showRevoked = h("input", { type: "checkbox", id: "tokens-show-revoked" });
  const list = h("div");
  const status = statusLine();
  const refresh = h("button", { type: "button", className: "secondary", i18n: "action.refresh" });
  fill(section,
    h("div", { className: "panel-head" }, h("h1", { i18n: "admin.tokens.title" }), refresh),
    h("div", { className: "panel filters" }, field("col.user", user)[0],
      h("div", { className: "field check" }, showRevoked, h("label", { for: "tokens-show-revoked", i18n: "admin.showRevoked" }))),
    h("section", { className: "panel", "aria-labelledby": "admin-tokens-list" },
      h("h2", { id: "admin-tokens-list", i18n: "admin.tokens.list" }), list, status));
  let tokens = [];

  function render() {
    const shown = tokens.filter((k) => (showRevoked.checked || k.active) && (!user.value || k.user === user.value));
    const action = (token) => {
      if (!token.active) return h("span", { className: "muted", i18n: "tokens.revoked" });
      const button = h("button", { type: "button", className: "danger small", i18n: "tokens.revoke" });
      button.setAttribute("aria-label", t("admin.revokeNamed", { prefix: token.prefix, user: token.user }));
      button.addEventListener("click", () => revoke(token));
      return button;
    };
    fill(list, table("admin.tokens.list", [
      { label: "col.prefix", header: true, cell: (k) => h("code", {}, `${k.prefix}…`) },
      { label: "col.user", cell: (k) => k.user },
      { label: "col.label", cell: (k) => k.label },
      { label: "col.models", cell: (k) => (k.models ? k.models.join(", ") : t("tokens.allModels")) },
      { label: "col.created", cell: (k) => formatDateTime(k.created_at) },
      { label: "col.status", cell: action },
    ], shown));
  }

  async function load() {
    try {
      tokens = (await get("/admin/api/tokens")).data;
      const users = [...new Set(tokens.map((k) => k.user))].sort();
      const chosen = user.value;
      fill(user, h("option", { value: "", i18n: "admin.allUsers" }), users.map((name) => h("option", { value: name }, name)));
      user.value = users.includes(chosen) ? chosen : "";
      render();
      showStatus(status, "");
    } catch (error) {
      showStatus(status, t("error.generic", { message: error.message }), "error");
    }
  }

  async function revoke(token) {
    const own = token.id === me.token.id;
    if (!window.confirm(t(own ? "tokens.confirmCurrent" : "admin.confirmRevoke", { prefix: token.prefix, user: token.user }))) return;
    try {
      await del(`/admin/api/tokens/${token.id}`);
    } catch (error) {
      showStatus(status, t("error.generic", { message: error.message }), "error");
      return;
    }
    if (own) {
      document.dispatchEvent(new CustomEvent("openmaas:signout", { detail: "signin.revokedOwn" }));
      return;
    }
    showStatus(status, t("tokens.revokedNotice", { prefix: token.prefix }));
    announce(t("tokens.revokedNotice", { prefix: token.prefix }));
    await load();
  }

  user.addEventListener("change", render);
  showRevoked.addEventListener("change", render);
  refresh.addEventListener("click", load);
  onLanguageChange(render);
  return { show: load };
}
