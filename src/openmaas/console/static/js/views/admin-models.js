// Admin: the models served here, their registry entry and load status.
import { get } from "../api.js";
import { fill, formatNumber, h, showStatus, statusLine, table } from "../dom.js";
import { onLanguageChange, t } from "../i18n.js";

export default function adminModelsView({ section }) {
  const list = h("div");
  const status = statusLine();
  const refresh = h("button", { type: "button", className: "secondary", i18n: "action.refresh" });
  fill(section, h("div", { className: "panel-head" }, h("h1", { i18n: "admin.models.title" }), refresh),
    h("section", { className: "panel", "aria-labelledby": "admin-models-list" },
      h("h2", { id: "admin-models-list", i18n: "admin.models.list" }), list, status));
  let models = [];

  function render() {
    fill(list, table("admin.models.list", [
      { label: "col.model", header: true, cell: (m) => [m.id, m.description ? h("p", { className: "hint" }, m.description) : null] },
      { label: "col.task", cell: (m) => m.task },
      { label: "col.engine", cell: (m) => m.engine },
      { label: "col.status", cell: (m) => h("span", { className: `state ${m.status}`, i18n: `model.status.${m.status}` }) },
      { label: "col.capabilities", cell: (m) => m.capabilities.join(", ") },
      { label: "col.dailyCap", cell: (m) => (m.daily_cap === null ? t("usage.noCap") : formatNumber(m.daily_cap)) },
      { label: "col.load", cell: (m) => t("admin.load", { running: m.running, queued: m.queued }) },
    ], models));
  }

  async function load() {
    try {
      models = (await get("/admin/api/models")).data;
      render();
      showStatus(status, "");
    } catch (error) {
      showStatus(status, t("error.generic", { message: error.message }), "error");
    }
  }

  refresh.addEventListener("click", load);
  onLanguageChange(render);
  return { show: load };
}
