// The image studio: the parameters of /v1/images/generations (prompt, negative prompt, size, steps,
// guidance, seed, LoRAs, an image to edit), submitted as async tasks whose progress is polled
// (/v1/tasks/{id}), and the gallery of results.
import { ApiError, call, del, get } from "../api.js";
import { announce, field, fill, h, setText, showStatus, statusLine } from "../dom.js";
import { onLanguageChange, t } from "../i18n.js";
import { gallery } from "./gallery.js";

const POLL_MS = 700;
const MAX_EDIT_BYTES = 7 * 1024 * 1024;
const SIZES = ["256x256", "512x512", "768x768", "1024x1024", "512x768", "768x512", "1024x768", "768x1024", "1328x1328"];

function parseSize(text) {
  const [w, hgt] = text.split("x").map(Number);
  return { w, h: hgt };
}

function sizesFor(info) {
  const min = parseSize(info.min_size);
  const max = parseSize(info.max_size);
  const fits = (s) => s.w >= min.w && s.h >= min.h && s.w <= max.w && s.h <= max.h && !(s.w % info.size_multiple) && !(s.h % info.size_multiple);
  return [...new Set([info.default_size, ...SIZES])].filter((text) => fits(parseSize(text)));
}

export default function imagesView({ section }) {
  let models = [];
  let editImage = null;
  const active = new Map(); // task id -> { item, progress, label, prompt, lastStatus }
  let polling = false;

  const modelSelect = h("select", { name: "model" });
  const prompt = h("textarea", { name: "prompt", rows: "3", maxlength: "1999", required: true });
  const negative = h("textarea", { name: "negative_prompt", rows: "2", maxlength: "1999" });
  const size = h("select", { name: "size" });
  const width = h("input", { type: "number", name: "width", inputmode: "numeric" });
  const height = h("input", { type: "number", name: "height", inputmode: "numeric" });
  const custom = h("div", { className: "row", hidden: true }, field("images.width", width)[0], field("images.height", height)[0]);
  const steps = h("input", { type: "number", name: "steps", min: "1", max: "100", step: "1", inputmode: "numeric" });
  const guidance = h("input", { type: "number", name: "guidance", min: "1.5", max: "20", step: "0.5", inputmode: "decimal" });
  const seed = h("input", { type: "number", name: "seed", min: "0", max: "2147483647", step: "1", inputmode: "numeric" });
  const count = h("select", { name: "n" }, [1, 2, 3, 4].map((n) => h("option", { value: String(n) }, String(n))));
  const loraBox = h("div", { className: "loras" });
  const loraSet = h("fieldset", { hidden: true }, h("legend", { i18n: "images.loras" }), h("p", { className: "hint", i18n: "images.lorasHint" }), loraBox);
  const file = h("input", { type: "file", name: "image", accept: "image/png,image/jpeg,image/webp" });
  const preview = h("img", { className: "preview", alt: "", hidden: true });
  const removeImage = h("button", { type: "button", className: "secondary small", hidden: true, i18n: "images.removeImage" });
  const editSet = h("fieldset", { hidden: true }, h("legend", { i18n: "images.edit" }),
    field("images.editFile", file, "images.editHint")[0], preview, removeImage);
  const submit = h("button", { type: "submit", i18n: "images.generate" });
  const status = statusLine();
  const form = h("form", { className: "panel studio-form", "aria-labelledby": "studio-form-title" },
    h("h2", { id: "studio-form-title", i18n: "images.new" }),
    field("images.model", modelSelect)[0],
    field("images.prompt", prompt)[0],
    field("images.negative", negative)[0],
    h("div", { className: "row" }, field("images.size", size)[0], field("images.count", count)[0]),
    custom,
    h("div", { className: "row three" }, field("images.steps", steps)[0], field("images.guidance", guidance)[0], field("images.seed", seed, "images.seedHint")[0]),
    loraSet, editSet,
    h("div", { className: "actions" }, submit), status);

  const taskList = h("ul", { className: "tasks" });
  const noTasks = h("p", { className: "empty", i18n: "images.noTasks" });
  const tasksPanel = h("section", { className: "panel", "aria-labelledby": "tasks-title" },
    h("h2", { id: "tasks-title", i18n: "images.tasks" }), noTasks, taskList);
  const results = gallery({ onReuse: reuse, onUnfinished: (tasks) => tasks.forEach((task) => track(task.task_id, task.input?.prompt || "")) });

  fill(section, h("h1", { i18n: "images.title" }),
    h("div", { className: "studio-layout" }, form, h("div", { className: "studio-results" }, tasksPanel, results.element)));

  const selected = () => models.find((m) => m.id === modelSelect.value);

  function applyModel() {
    const model = selected();
    const info = model?.image;
    if (!info) return;
    fill(size, sizesFor(info).map((s) => h("option", { value: s, dataset: s === info.default_size ? { default: "1" } : {} }, s)),
      h("option", { value: "custom", i18n: "images.customSize" }));
    markDefaultSize();
    size.value = info.default_size;
    custom.hidden = true;
    const min = parseSize(info.min_size);
    const max = parseSize(info.max_size);
    Object.assign(width, { min: min.w, max: max.w, step: info.size_multiple, value: parseSize(info.default_size).w });
    Object.assign(height, { min: min.h, max: max.h, step: info.size_multiple, value: parseSize(info.default_size).h });
    steps.placeholder = String(info.default_steps);
    guidance.placeholder = String(info.default_guidance);
    fill(loraBox, info.loras.map((id) => {
      const box = h("input", { type: "checkbox", value: id, id: `lora-${id.replace(/\W+/g, "-")}` });
      const weight = h("input", { type: "number", min: "0.05", max: "1", step: "0.05", value: "1", className: "weight", dataset: { lora: id } });
      weight.setAttribute("aria-label", t("images.loraWeight", { id }));
      return h("div", { className: "lora" }, box, h("label", { for: box.id }, id), weight);
    }));
    loraSet.hidden = !info.loras.length;
    editSet.hidden = !info.edit;
    if (!info.edit) clearEdit();
  }

  function markDefaultSize() {
    for (const option of size.querySelectorAll("option[data-default]")) {
      option.textContent = `${option.value} (${t("images.default")})`;
    }
  }

  function clearEdit() {
    editImage = null;
    file.value = "";
    preview.hidden = true;
    preview.removeAttribute("src");
    removeImage.hidden = true;
  }

  function loras() {
    const chosen = [...loraBox.querySelectorAll("input[type=checkbox]:checked")].map((box) => {
      const weight = Number(loraBox.querySelector(`input[data-lora="${CSS.escape(box.value)}"]`).value) || 1;
      return [box.value, weight];
    });
    if (!chosen.length) return undefined;
    if (chosen.length === 1) return chosen[0][0];
    const total = chosen.reduce((sum, [, w]) => sum + w, 0);
    return Object.fromEntries(chosen.map(([id, w]) => [id, w / total]));
  }

  function body() {
    const request = { model: modelSelect.value, prompt: prompt.value.trim(), n: Number(count.value) };
    if (negative.value.trim()) request.negative_prompt = negative.value.trim();
    request.size = size.value === "custom" ? `${width.value}x${height.value}` : size.value;
    if (steps.value !== "") request.steps = Number(steps.value);
    if (guidance.value !== "") request.guidance = Number(guidance.value);
    if (seed.value !== "") request.seed = Number(seed.value);
    const chosen = loras();
    if (chosen !== undefined) request.loras = chosen;
    if (editImage) request.image_url = editImage;
    return request;
  }

  function reuse(task) {
    const input = task.input || {};
    if (models.some((m) => m.id === task.model)) {
      modelSelect.value = task.model;
      applyModel();
    }
    prompt.value = input.prompt || "";
    negative.value = input.negative_prompt || "";
    if ([...size.options].some((o) => o.value === input.size)) size.value = input.size;
    else if (input.size) {
      size.value = "custom";
      custom.hidden = false;
      [width.value, height.value] = input.size.split("x");
    }
    steps.value = input.steps ?? "";
    guidance.value = input.guidance ?? "";
    seed.value = input.seed ?? "";
    count.value = String(input.n || 1);
    for (const box of loraBox.querySelectorAll("input[type=checkbox]")) box.checked = box.value in (input.loras || {});
    prompt.focus();
    announce(t("images.reused"));
  }

  function track(taskId, text) {
    if (active.has(taskId)) return;
    const label = h("span", { className: "task-status", "aria-live": "polite" });
    const progress = h("progress", { max: "100", value: "0" });
    const promptText = h("p", { className: "prompt", id: `task-${taskId}` }, text);
    progress.setAttribute("aria-labelledby", promptText.id);
    const cancel = h("button", { type: "button", className: "secondary small", i18n: "images.cancel" });
    const item = h("li", { className: "task", dataset: { task: taskId } }, promptText, progress, label, cancel);
    cancel.addEventListener("click", async () => {
      cancel.disabled = true;
      try {
        await del(`/v1/tasks/${encodeURIComponent(taskId)}`);
      } catch (error) {
        setText(label, ["error.generic", { message: error.message }]);
      }
    });
    noTasks.hidden = true;
    taskList.prepend(item);
    active.set(taskId, { item, progress, label, cancel, lastStatus: null, quarter: -1 });
    setText(label, "images.status.PENDING");
    if (!polling) poll();
  }

  function update(taskId, task) {
    const entry = active.get(taskId);
    const percent = Math.round((task.progress || 0) * 100);
    entry.progress.value = percent;
    const quarter = Math.floor(percent / 25);
    if (task.task_status !== entry.lastStatus || (task.task_status === "RUNNING" && quarter !== entry.quarter)) {
      setText(entry.label, task.task_status === "RUNNING" ? ["images.status.RUNNING", { percent }] : `images.status.${task.task_status}`);
      entry.lastStatus = task.task_status;
      entry.quarter = quarter;
    }
    if (task.task_status === "SUCCEED") {
      active.delete(taskId);
      entry.item.remove();
      noTasks.hidden = active.size > 0 || taskList.children.length > 0;
      announce(t("images.done"));
      results.reload();
    } else if (task.task_status === "FAILED") {
      active.delete(taskId);
      entry.progress.remove();
      setText(entry.label, ["images.failed", { message: task.errors?.message || "" }]);
      entry.label.dataset.kind = "error";
      setText(entry.cancel, "images.dismiss");
      entry.cancel.disabled = false;
      entry.cancel.addEventListener("click", () => {
        entry.item.remove();
        noTasks.hidden = taskList.children.length > 0;
      }, { once: true });
      announce(t("images.failedShort"));
    }
  }

  async function poll() {
    polling = true;
    while (active.size) {
      for (const taskId of [...active.keys()]) {
        try {
          update(taskId, await get(`/v1/tasks/${encodeURIComponent(taskId)}`));
        } catch (error) {
          if (error instanceof ApiError && error.status === 404) active.delete(taskId);
        }
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
    polling = false;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!form.reportValidity()) return;
    submit.disabled = true;
    showStatus(status, t("images.submitting"));
    try {
      const request = body();
      const { body: answer } = await call("POST", "/v1/images/generations", {
        body: request,
        extraHeaders: { "X-ModelScope-Async-Mode": "true" },
      });
      track(answer.task_id, request.prompt);
      showStatus(status, t("images.submitted"));
    } catch (error) {
      showStatus(status, error.status === 429 ? t("error.quota", { message: error.message }) : t("error.generic", { message: error.message }), "error");
    } finally {
      submit.disabled = false;
    }
  });
  modelSelect.addEventListener("change", applyModel);
  size.addEventListener("change", () => {
    custom.hidden = size.value !== "custom";
  });
  file.addEventListener("change", () => {
    const chosen = file.files[0];
    if (!chosen) return;
    if (chosen.size > MAX_EDIT_BYTES) {
      showStatus(status, t("images.tooLarge"), "error");
      clearEdit();
      return;
    }
    const reader = new FileReader();
    reader.onload = () => {
      editImage = reader.result;
      preview.src = editImage;
      preview.alt = t("images.editPreview");
      preview.hidden = false;
      removeImage.hidden = false;
    };
    reader.readAsDataURL(chosen);
  });
  removeImage.addEventListener("click", () => {
    clearEdit();
    file.focus();
  });

  async function start() {
    try {
      models = (await get("/v1/models")).data.filter((m) => m.task === "image" && m.image);
    } catch (error) {
      showStatus(status, t("error.generic", { message: error.message }), "error");
      return;
    }
    fill(modelSelect, models.map((m) => h("option", { value: m.id }, m.id)));
    if (!models.length) {
      showStatus(status, t("images.noModel"), "error");
      submit.disabled = true;
      return;
    }
    applyModel();
    results.reload();
  }

  onLanguageChange(() => {
    markDefaultSize();
    results.reload();
  });
  start();
  return {};
}
