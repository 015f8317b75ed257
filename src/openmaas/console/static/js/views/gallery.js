// The gallery of the image studio: the user's finished images, newest first, page by page
// (GET /v1/tasks), each with what it was made from and a button to reuse those settings.
import { get } from "../api.js";
import { fill, formatDateTime, h, showStatus, statusLine } from "../dom.js";
import { t } from "../i18n.js";

const PAGE = 24;

export function gallery({ onReuse, onUnfinished }) {
  const grid = h("ul", { className: "gallery", i18nAttrs: { "aria-label": "images.gallery" } });
  const more = h("button", { type: "button", className: "secondary", hidden: true, i18n: "images.more" });
  const empty = h("p", { className: "empty", i18n: "images.galleryEmpty", hidden: true });
  const status = statusLine();
  const refresh = h("button", { type: "button", className: "secondary", i18n: "action.refresh" });
  const element = h("section", { className: "panel", "aria-labelledby": "gallery-title" },
    h("div", { className: "panel-head" }, h("h2", { id: "gallery-title", i18n: "images.gallery" }), refresh),
    empty, grid, h("div", { className: "actions" }, more), status);
  let last = null;

  function card(task) {
    const input = task.input || {};
    const details = [input.size, t("images.stepsShort", { n: input.steps }), t("images.seedShort", { n: input.seed })];
    if (input.loras && Object.keys(input.loras).length) details.push(`LoRA: ${Object.keys(input.loras).join(", ")}`);
    if (input.edit) details.push(t("images.edited"));
    const reuse = h("button", { type: "button", className: "secondary small", i18n: "images.reuse" });
    reuse.addEventListener("click", () => onReuse(task));
    const images = task.output_images.map((url, index) =>
      h("a", { href: url, target: "_blank", rel: "noopener noreferrer", className: "thumb" },
        h("img", { src: url, alt: t("images.alt", { prompt: input.prompt || "", n: index + 1 }), loading: "lazy", referrerpolicy: "no-referrer" })),
    );
    return h("li", {},
      h("figure", {}, images,
        h("figcaption", {},
          h("p", { className: "prompt" }, input.prompt || ""),
          h("p", { className: "hint" }, `${task.model} · ${details.join(" · ")}`),
          h("p", { className: "hint" }, h("time", { datetime: task.created_at }, formatDateTime(task.created_at))),
          reuse)));
  }

  async function load(reset) {
    const query = new URLSearchParams({ limit: String(PAGE) });
    if (!reset && last) query.set("after", last);
    try {
      const page = await get(`/v1/tasks?${query}`);
      if (reset) grid.replaceChildren();
      const finished = page.data.filter((task) => task.task_status === "SUCCEED");
      grid.append(...finished.map(card));
      onUnfinished(page.data.filter((task) => task.task_status === "PENDING" || task.task_status === "RUNNING"));
      last = page.last_id;
      more.hidden = !page.has_more;
      empty.hidden = grid.children.length > 0;
      showStatus(status, "");
    } catch (error) {
      showStatus(status, t("error.generic", { message: error.message }), "error");
    }
  }

  more.addEventListener("click", () => load(false));
  refresh.addEventListener("click", () => load(true));
  return { element, reload: () => load(true), clear: () => fill(grid) };
}
