// Admin: usage across users over a range of quota days, summed per user and per model, and day by day.
import { get } from "../api.js";
import { field, fill, formatNumber, h, showStatus, statusLine, table } from "../dom.js";
import { onLanguageChange, t } from "../i18n.js";

function isoDay(date) {
  return `${date.getFullYear()}-${String(date.getMonth() + 1).padStart(2, "0")}-${String(date.getDate()).padStart(2, "0")}`;
}

export default function adminUsageView({ section }) {
  const today = new Date();
  const from = h("input", { type: "date", name: "from", required: true, value: isoDay(new Date(today.getTime() - 6 * 86400_000)) });
  const to = h("input", { type: "date", name: "to", required: true, value: isoDay(today) });
  const user = h("input", { type: "text", name: "user", autocomplete: "off", i18nAttrs: { placeholder: "admin.allUsers" } });
  const status = statusLine();
  const totals = h("p", { className: "big" });
  const results = h("div");
  const form = h("form", { className: "panel filters" },
    field("admin.from", from)[0], field("admin.to", to)[0], field("col.user", user)[0],
    h("div", { className: "actions" }, h("button", { type: "submit", i18n: "admin.show" })));
  fill(section, h("h1", { i18n: "admin.usage.title" }), form,
    h("section", { className: "panel", "aria-labelledby": "admin-usage-result" },
      h("h2", { id: "admin-usage-result", i18n: "admin.usage.result" }), totals, results, status));
  let usage = null;

  function render() {
    if (!usage) return;
    totals.textContent = t("admin.usageTotals", {
      calls: formatNumber(usage.calls), prompt: formatNumber(usage.prompt_tokens), completion: formatNumber(usage.completion_tokens),
      from: usage.from, to: usage.to, zone: usage.timezone,
    });
    const sums = (first, key) => [
      { label: first, header: true, cell: (r) => r[key] },
      { label: "col.calls", cell: (r) => formatNumber(r.calls) },
      { label: "col.promptTokens", cell: (r) => formatNumber(r.prompt_tokens) },
      { label: "col.completionTokens", cell: (r) => formatNumber(r.completion_tokens) },
    ];
    const shown = { emptyKey: "admin.noUsage", showCaption: true };
    fill(results,
      table("admin.byUser", sums("col.user", "user"), usage.by_user, shown),
      table("admin.byModel", sums("col.model", "model"), usage.by_model, shown),
      table("admin.byDay", [
        { label: "col.day", header: true, cell: (r) => r.day },
        { label: "col.user", cell: (r) => r.user },
        { label: "col.model", cell: (r) => r.model },
        { label: "col.calls", cell: (r) => formatNumber(r.calls) },
        { label: "col.promptTokens", cell: (r) => formatNumber(r.prompt_tokens) },
        { label: "col.completionTokens", cell: (r) => formatNumber(r.completion_tokens) },
      ], usage.data, shown));
  }

  async function load() {
    const query = new URLSearchParams({ from: from.value, to: to.value });
    if (user.value.trim()) query.set("user", user.value.trim());
    try {
      usage = await get(`/admin/api/usage?${query}`);
      render();
      showStatus(status, "");
    } catch (error) {
      showStatus(status, t("error.generic", { message: error.message }), "error");
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    load();
  });
  onLanguageChange(render);
  return { show: load };
}
