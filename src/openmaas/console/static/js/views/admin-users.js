// Admin: users with their limits and today's calls; add a user, edit limits and the admin flag, issue a
// token for a user (shown once). Everything here is enforced by the server's admin API, not by the page.
import { get, patch, post } from "../api.js";
import { announce, field, fill, formatNumber, h, setText, showStatus, statusLine, table } from "../dom.js";
import { onLanguageChange, t } from "../i18n.js";
import { shownOnce } from "./shown-once.js";

function limitInput(name) {
  return h("input", { type: "number", name, min: "0", step: "1", inputmode: "numeric", i18nAttrs: { placeholder: "admin.defaultPlaceholder" } });
}

const numberOrNull = (input) => (input.value === "" ? null : Number(input.value));

export default function adminUsersView({ me, section }) {
  const list = h("div");
  const status = statusLine();
  const defaults = h("p", { className: "hint" });
  const refresh = h("button", { type: "button", className: "secondary", i18n: "action.refresh" });

  // -- add a user
  const name = h("input", { type: "text", name: "name", required: true, maxlength: "64", autocomplete: "off", pattern: "[A-Za-z0-9][A-Za-z0-9_.@+\\-]*" });
  const newDaily = limitInput("daily_limit");
  const newModel = limitInput("model_daily_limit");
  const newAdmin = h("input", { type: "checkbox", id: "new-user-admin" });
  const addStatus = statusLine();
  const addForm = h("form", {},
    h("div", { className: "row three" }, field("admin.name", name)[0], field("admin.dailyLimit", newDaily)[0], field("admin.modelLimit", newModel)[0]),
    h("div", { className: "field check" }, newAdmin, h("label", { for: "new-user-admin", i18n: "admin.isAdmin" })),
    h("div", { className: "actions" }, h("button", { type: "submit", i18n: "admin.addUser" })), addStatus);
  const addPanel = h("details", { className: "panel" }, h("summary", { i18n: "admin.addUser" }), addForm);

  // -- edit dialog
  const editTitle = h("h2", { id: "edit-user-title" });
  const editDaily = limitInput("daily_limit");
  const editModel = limitInput("model_daily_limit");
  const editAdmin = h("input", { type: "checkbox", id: "edit-user-admin" });
  const editStatus = statusLine();
  const save = h("button", { type: "submit", i18n: "action.save" });
  const cancel = h("button", { type: "button", className: "secondary", i18n: "action.cancel" });
  const editForm = h("form", { method: "dialog" }, editTitle,
    field("admin.dailyLimit", editDaily, "admin.limitHint")[0], field("admin.modelLimit", editModel, "admin.limitHint")[0],
    h("div", { className: "field check" }, editAdmin, h("label", { for: "edit-user-admin", i18n: "admin.isAdmin" })),
    h("div", { className: "actions" }, save, cancel), editStatus);
  const dialog = h("dialog", { "aria-labelledby": "edit-user-title" }, editForm);

  // -- a token for a user
  const tokenDialogBody = h("div");
  const tokenClose = h("button", { type: "button", className: "secondary", i18n: "action.close" });
  const tokenDialog = h("dialog", { "aria-labelledby": "token-dialog-title" },
    h("h2", { id: "token-dialog-title", i18n: "admin.newToken" }), tokenDialogBody, h("div", { className: "actions" }, tokenClose));

  fill(section,
    h("div", { className: "panel-head" }, h("h1", { i18n: "admin.users.title" }), refresh),
    defaults, addPanel,
    h("section", { className: "panel", "aria-labelledby": "users-list" }, h("h2", { id: "users-list", i18n: "admin.users.list" }), list, status),
    dialog, tokenDialog);
  let data = null;
  let editing = null;

  const limitText = (own, effective) =>
    own === null ? (effective === null ? t("usage.noCap") : t("admin.byDefault", { n: formatNumber(effective) })) : formatNumber(own);

  function render() {
    if (!data) return;
    const d = data.defaults;
    setText(defaults, ["admin.defaults", {
      daily: formatNumber(d.daily_limit),
      model: d.model_daily_limit === null ? t("usage.noCap") : formatNumber(d.model_daily_limit),
      day: data.day, zone: data.timezone,
    }]);
    const actions = (user) => {
      const edit = h("button", { type: "button", className: "secondary small", i18n: "action.edit" });
      edit.setAttribute("aria-label", t("admin.editNamed", { name: user.name }));
      edit.addEventListener("click", () => openEditor(user));
      const token = h("button", { type: "button", className: "secondary small", i18n: "admin.tokenButton" });
      token.setAttribute("aria-label", t("admin.tokenNamed", { name: user.name }));
      token.addEventListener("click", () => issueToken(user));
      return h("div", { className: "row tight" }, edit, token);
    };
    fill(list, table("admin.users.list", [
      { label: "col.user", header: true, cell: (u) => [u.name, u.is_admin ? h("span", { className: "tag", i18n: "admin.adminTag" }) : null] },
      { label: "col.dailyLimit", cell: (u) => limitText(u.daily_limit, u.effective_daily_limit) },
      { label: "col.perModelLimit", cell: (u) => limitText(u.model_daily_limit, u.effective_model_daily_limit) },
      { label: "col.usedToday", cell: (u) => formatNumber(u.used_today) },
      { label: "col.left", cell: (u) => formatNumber(u.remaining_today) },
      { label: "col.activeTokens", cell: (u) => formatNumber(u.active_tokens) },
      { label: "col.actions", cell: actions },
    ], data.data));
  }

  async function load() {
    try {
      data = await get("/admin/api/users");
      render();
      showStatus(status, "");
    } catch (error) {
      showStatus(status, t("error.generic", { message: error.message }), "error");
    }
  }

  function openEditor(user) {
    editing = user;
    setText(editTitle, ["admin.editTitle", { name: user.name }]);
    editDaily.value = user.daily_limit ?? "";
    editModel.value = user.model_daily_limit ?? "";
    editAdmin.checked = user.is_admin;
    editAdmin.disabled = user.name === me.name;
    showStatus(editStatus, "");
    dialog.showModal();
    editDaily.focus();
  }

  editForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const change = { daily_limit: numberOrNull(editDaily), model_daily_limit: numberOrNull(editModel) };
    if (!editAdmin.disabled) change.is_admin = editAdmin.checked;
    save.disabled = true;
    try {
      await patch(`/admin/api/users/${encodeURIComponent(editing.name)}`, change);
      dialog.close();
      announce(t("admin.saved", { name: editing.name }));
      showStatus(status, t("admin.saved", { name: editing.name }));
      await load();
    } catch (error) {
      showStatus(editStatus, t("error.generic", { message: error.message }), "error");
    } finally {
      save.disabled = false;
    }
  });
  cancel.addEventListener("click", () => dialog.close());

  async function issueToken(user) {
    try {
      const token = await post(`/admin/api/users/${encodeURIComponent(user.name)}/tokens`, { label: t("admin.tokenLabel", { by: me.name }) });
      fill(tokenDialogBody, shownOnce(token.token, "admin.tokenShownOnce"), h("p", { className: "hint", i18n: ["admin.tokenFor", { name: user.name }] }));
      tokenDialog.showModal();
      tokenDialogBody.querySelector("input")?.focus();
      await load();
    } catch (error) {
      showStatus(status, t("error.generic", { message: error.message }), "error");
    }
  }
  tokenClose.addEventListener("click", () => {
    tokenDialog.close();
    fill(tokenDialogBody);
  });

  addForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { name: name.value.trim(), is_admin: newAdmin.checked, daily_limit: numberOrNull(newDaily), model_daily_limit: numberOrNull(newModel) };
    try {
      await post("/admin/api/users", body);
      showStatus(addStatus, t("admin.added", { name: body.name }));
      addForm.reset();
      await load();
    } catch (error) {
      showStatus(addStatus, t("error.generic", { message: error.message }), "error");
    }
  });
  refresh.addEventListener("click", load);
  onLanguageChange(render);
  return { show: load };
}
