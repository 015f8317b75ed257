// The user's own access tokens: create one (its text shown once), list them, revoke them.
import { del, get, post } from "../api.js";
import { announce, field, fill, formatDateTime, h, setText, showStatus, statusLine, table } from "../dom.js";
import { onLanguageChange, t } from "../i18n.js";
import { shownOnce } from "./shown-once.js";

export default function tokensView({ me, section }) {
  const label = h("input", { type: "text", name: "label", maxlength: "200", autocomplete: "off" });
  const everyModel = h("input", { type: "radio", name: "scope", value: "all", checked: true, id: "scope-all" });
  const someModels = h("input", { type: "radio", name: "scope", value: "some", id: "scope-some" });
  const modelBoxes = h("div", { className: "checks", hidden: true });
  const scope = h("fieldset", {}, h("legend", { i18n: "tokens.scope" }),
    h("div", { className: "field check" }, everyModel, h("label", { for: "scope-all", i18n: "tokens.scopeAll" })),
    h("div", { className: "field check" }, someModels, h("label", { for: "scope-some", i18n: "tokens.scopeSome" })),
    modelBoxes);
  const create = h("button", { type: "submit", i18n: "tokens.create" });
  const status = statusLine();
  const created = h("div");
  const form = h("form", { className: "panel", "aria-labelledby": "tokens-new" },
    h("h2", { id: "tokens-new", i18n: "tokens.new" }),
    field("tokens.label", label, "tokens.labelHint")[0], scope,
    h("div", { className: "actions" }, create), status, created);
  const list = h("div");
  const listStatus = statusLine();
  fill(section, h("h1", { i18n: "tokens.title" }), form,
    h("section", { className: "panel", "aria-labelledby": "tokens-list" }, h("h2", { id: "tokens-list", i18n: "tokens.yours" }), list, listStatus));
  let tokens = [];

  function render() {
    const revoke = (token) => {
      if (!token.active) return h("span", { className: "muted", i18n: "tokens.revoked" });
      const button = h("button", { type: "button", className: "danger small", i18n: "tokens.revoke" });
      button.setAttribute("aria-label", t("tokens.revokeNamed", { prefix: token.prefix }));
      button.addEventListener("click", () => revokeToken(token));
      return button;
    };
    fill(list, table("tokens.yours", [
      { label: "col.prefix", header: true, cell: (k) => [h("code", {}, `${k.prefix}…`), k.id === me.token.id ? h("span", { className: "tag", i18n: "tokens.current" }) : null] },
      { label: "col.label", cell: (k) => k.label },
      { label: "col.models", cell: (k) => (k.models ? k.models.join(", ") : t("tokens.allModels")) },
      { label: "col.created", cell: (k) => formatDateTime(k.created_at) },
      { label: "col.status", cell: (k) => revoke(k) },
    ], tokens));
  }

  async function load() {
    try {
      tokens = (await get("/console/api/tokens")).data;
      render();
    } catch (error) {
      showStatus(listStatus, t("error.generic", { message: error.message }), "error");
    }
  }

  async function revokeToken(token) {
    const current = token.id === me.token.id;
    if (!window.confirm(t(current ? "tokens.confirmCurrent" : "tokens.confirm", { prefix: token.prefix }))) return;
    try {
      await del(`/console/api/tokens/${token.id}`);
    } catch (error) {
      showStatus(listStatus, t("error.generic", { message: error.message }), "error");
      return;
    }
    if (current) {
      document.dispatchEvent(new CustomEvent("openmaas:signout", { detail: "signin.revokedOwn" }));
      return;
    }
    created.querySelector(`.shown-once[data-prefix="${token.prefix}"]`)?.remove();
    showStatus(listStatus, t("tokens.revokedNotice", { prefix: token.prefix }));
    announce(t("tokens.revokedNotice", { prefix: token.prefix }));
    await load();
    list.querySelector("table")?.closest("[tabindex]")?.focus();
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { label: label.value.trim() };
    if (someModels.checked) {
      body.models = [...modelBoxes.querySelectorAll("input:checked")].map((box) => box.value);
      if (!body.models.length) {
        showStatus(status, t("tokens.pickModels"), "error");
        return;
      }
    }
    create.disabled = true;
    try {
      const token = await post("/console/api/tokens", body);
      fill(created, shownOnce(token.token, "tokens.shownOnce", { withDone: true }));
      setText(status, "");
      label.value = "";
      created.querySelector("input")?.focus();
      await load();
    } catch (error) {
      showStatus(status, t("error.generic", { message: error.message }), "error");
    } finally {
      create.disabled = false;
    }
  });
  for (const radio of [everyModel, someModels]) {
    radio.addEventListener("change", () => {
      modelBoxes.hidden = !someModels.checked;
    });
  }

  async function loadModels() {
    try {
      const models = (await get("/v1/models")).data.filter((m) => !me.token.models || me.token.models.includes(m.id));
      fill(modelBoxes, models.map((m) => {
        const box = h("input", { type: "checkbox", value: m.id, id: `scope-${m.id.replace(/\W+/g, "-")}` });
        return h("div", { className: "field check" }, box, h("label", { for: box.id }, m.id));
      }));
    } catch {
      // the list of models is only needed to limit a token
    }
  }

  onLanguageChange(render);
  loadModels();
  return { show: load };
}
