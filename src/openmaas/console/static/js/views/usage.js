// Today's usage: calls used against the daily limits, per model, and the time to the reset (GET /v1/usage).
import { get } from "../api.js";
import { fill, formatDateTime, formatDuration, formatNumber, h, setText, showStatus, statusLine, table } from "../dom.js";
import { onLanguageChange, t } from "../i18n.js";

export default function usageView({ section }) {
  const summary = h("div", { className: "usage-summary" });
  const perModel = h("div");
  const status = statusLine();
  const refresh = h("button", { type: "button", className: "secondary", i18n: "action.refresh" });
  const reset = h("p", { className: "reset" });
  fill(section,
    h("div", { className: "panel-head" }, h("h1", { i18n: "usage.title" }), refresh),
    h("section", { className: "panel", "aria-labelledby": "usage-today" },
      h("h2", { id: "usage-today", i18n: "usage.today" }), summary, reset),
    h("section", { className: "panel", "aria-labelledby": "usage-models" },
      h("h2", { id: "usage-models", i18n: "usage.perModel" }), perModel),
    status);
  let usage = null;
  let resetAt = 0;
  let timer = null;

  function tick() {
    if (!usage) return;
    const seconds = Math.max(0, (resetAt - Date.now()) / 1000);
    setText(reset, ["usage.reset", { when: formatDateTime(usage.reset_at, usage.timezone), zone: usage.timezone, in: formatDuration(seconds) }]);
    if (seconds <= 0) load();
  }

  function render() {
    if (!usage) return;
    const percent = usage.limit ? Math.min(100, Math.round((usage.used / usage.limit) * 100)) : 0;
    const meter = h("progress", { max: String(usage.limit || 1), value: String(usage.used), "aria-labelledby": "usage-total" });
    fill(summary,
      h("p", { id: "usage-total", className: "big", i18n: ["usage.total", { used: formatNumber(usage.used), limit: formatNumber(usage.limit), percent }] }),
      meter,
      h("p", { i18n: ["usage.left", { n: formatNumber(usage.remaining), day: usage.day }] }));
    const limitText = (m) => (m.limit === null ? t("usage.noCap") : formatNumber(m.limit));
    fill(perModel, table("usage.perModel", [
      { label: "col.model", header: true, cell: (m) => m.model },
      { label: "col.used", cell: (m) => formatNumber(m.used) },
      { label: "col.modelLimit", cell: limitText },
      { label: "col.left", cell: (m) => formatNumber(m.remaining) },
      { label: "col.promptTokens", cell: (m) => formatNumber(m.prompt_tokens) },
      { label: "col.completionTokens", cell: (m) => formatNumber(m.completion_tokens) },
    ], usage.models));
    tick();
  }

  async function load() {
    try {
      usage = await get("/v1/usage");
      resetAt = Date.now() + usage.reset_in_seconds * 1000;
      render();
      showStatus(status, "");
    } catch (error) {
      showStatus(status, t("error.generic", { message: error.message }), "error");
    }
  }

  refresh.addEventListener("click", load);
  onLanguageChange(render);
  return {
    show() {
      load();
      clearInterval(timer);
      timer = setInterval(tick, 30_000);
    },
  };
}
