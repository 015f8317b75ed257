// The chat playground: a model, a persona or a free system prompt, a streamed conversation with its
// history, a stop button, reasoning folded away, and the exact message list the model receives.
import { ApiError, get, streamChat } from "../api.js";
import { announce, field, fill, h, setText, showStatus, statusLine } from "../dom.js";
import { onLanguageChange, t } from "../i18n.js";
import { contentText, messageListView, messageView } from "./chat-parts.js";

const STORE = "openmaas.console.chat";
const CUSTOM = "";
const MAX_IMAGE_BYTES = 6 * 1024 * 1024;

function load() {
  try {
    return JSON.parse(sessionStorage.getItem(STORE)) || {};
  } catch {
    return {};
  }
}

export default function chatView({ section }) {
  const saved = load();
  const state = {
    model: saved.model || null,
    persona: saved.persona ?? "assistant",
    system: saved.system ?? "",
    history: saved.history || [],
    lastRequest: saved.lastRequest || null,
  };
  let models = [];
  let personas = [];
  let controller = null;
  let attachment = null;
  const views = new Map();

  const save = () => {
    try {
      sessionStorage.setItem(STORE, JSON.stringify(state));
    } catch {
      // storage full (large images): the conversation still lives in the page
    }
  };

  // ---- settings ----
  const modelSelect = h("select", { name: "model" });
  const personaSelect = h("select", { name: "persona" });
  const systemInput = h("textarea", { name: "system", rows: "5" });
  const temperature = h("input", { type: "number", name: "temperature", min: "0", max: "2", step: "0.1", inputmode: "decimal" });
  const maxTokens = h("input", { type: "number", name: "max_tokens", min: "1", step: "1", inputmode: "numeric" });
  const thinking = h("input", { type: "checkbox", name: "enable_thinking", checked: true });
  const thinkingField = h("div", { className: "field check", hidden: true }, thinking, h("label", { for: "chat-thinking", i18n: "chat.thinking" }));
  thinking.id = "chat-thinking";
  const newChat = h("button", { type: "button", className: "secondary", i18n: "chat.new" });
  const settings = h("div", { className: "settings-body" },
    field("chat.model", modelSelect)[0],
    field("chat.persona", personaSelect, "chat.personaHint")[0],
    field("chat.system", systemInput)[0],
    h("div", { className: "row" }, field("chat.temperature", temperature)[0], field("chat.maxTokens", maxTokens)[0]),
    thinkingField,
    h("div", { className: "actions" }, newChat),
  );
  const settingsPanel = h("details", { className: "panel settings", open: window.matchMedia("(min-width: 900px)").matches },
    h("summary", { i18n: "chat.settings" }), settings);

  // ---- the message list as sent ----
  const sentCount = h("span");
  const sentBody = h("div", { className: "sent-body" });
  const sentPanel = h("details", { className: "panel sent", id: "chat-sent" }, h("summary", {}, sentCount), sentBody);

  // ---- conversation and composer ----
  const log = h("div", { className: "log", role: "log", "aria-live": "polite", i18nAttrs: { "aria-label": "chat.log" } });
  const empty = h("p", { className: "empty", i18n: "chat.empty" });
  const input = h("textarea", { name: "message", rows: "3", required: true });
  const fileInput = h("input", { type: "file", accept: "image/png,image/jpeg,image/webp,image/gif", className: "visually-hidden", id: "chat-file" });
  const attachLabel = h("label", { for: "chat-file", className: "button secondary", i18n: "chat.attach" });
  const attachName = h("span", { className: "hint" });
  const attachRow = h("div", { className: "attach", hidden: true }, fileInput, attachLabel, attachName);
  const send = h("button", { type: "submit", i18n: "chat.send" });
  const stop = h("button", { type: "button", className: "danger", disabled: true, i18n: "chat.stop" });
  const status = statusLine();
  const composer = h("form", { className: "composer" },
    field("chat.message", input, "chat.keys")[0], attachRow, h("div", { className: "actions" }, send, stop), status);

  fill(section,
    h("h1", { i18n: "chat.title" }),
    h("div", { className: "chat-layout" },
      h("aside", { className: "chat-side", i18nAttrs: { "aria-label": "chat.settings" } }, settingsPanel, sentPanel),
      h("div", { className: "chat-main" }, log, composer)),
  );

  // ---- behaviour ----
  const selectedModel = () => models.find((m) => m.id === modelSelect.value);

  function baseMessages() {
    const messages = state.system.trim() ? [{ role: "system", content: state.system }] : [];
    for (const m of state.history) {
      if (m.role === "assistant" && !m.content) continue;
      messages.push({ role: m.role, content: m.content });
    }
    return messages;
  }

  function renderSent() {
    const messages = baseMessages();
    setText(sentCount, ["chat.sent.title", { n: messages.length }]);
    fill(sentBody, ...messageListView(messages, state.lastRequest));
  }

  function scrollToEnd() {
    log.scrollTop = log.scrollHeight;
  }

  function renderLog() {
    log.replaceChildren();
    views.clear();
    if (!state.history.length) log.append(empty);
    for (const message of state.history) addMessage(message);
  }

  function addMessage(message) {
    empty.remove();
    const view = messageView(message);
    views.set(message, view);
    log.append(view.article);
    scrollToEnd();
    return view;
  }

  function choosePersona(name) {
    state.persona = name;
    const persona = personas.find((p) => p.name === name);
    if (persona) state.system = persona.system;
    systemInput.value = state.system;
    save();
    renderSent();
  }

  function refreshModelOptions() {
    const model = selectedModel();
    thinkingField.hidden = !model?.capabilities?.includes("reasoning");
    attachRow.hidden = model?.task !== "vision";
    if (attachRow.hidden) clearAttachment();
  }

  function clearAttachment() {
    attachment = null;
    fileInput.value = "";
    attachName.textContent = "";
  }

  function setStreaming(on) {
    send.disabled = on;
    stop.disabled = !on;
    modelSelect.disabled = on;
  }

  function requestBody(userContent) {
    const body = {
      model: modelSelect.value,
      messages: [...baseMessages(), { role: "user", content: userContent }],
      stream: true,
      stream_options: { include_usage: true },
    };
    if (temperature.value !== "") body.temperature = Number(temperature.value);
    if (maxTokens.value !== "") body.max_tokens = Number(maxTokens.value);
    if (!thinkingField.hidden) body.enable_thinking = thinking.checked;
    return body;
  }

  async function ask(text) {
    const userContent = attachment
      ? [{ type: "text", text }, { type: "image_url", image_url: { url: attachment } }]
      : text;
    const body = requestBody(userContent);
    const question = { role: "user", content: userContent };
    const answer = { role: "assistant", content: "", reasoning: "" };
    state.history.push(question, answer);
    state.lastRequest = body;
    addMessage(question);
    const view = addMessage(answer);
    renderSent();
    input.value = "";
    clearAttachment();
    controller = new AbortController();
    setStreaming(true);
    showStatus(status, t("chat.streaming"));
    let frame = 0;
    const redraw = () => {
      frame = 0;
      view.update();
      scrollToEnd();
    };
    try {
      const headers = await streamChat(body, {
        signal: controller.signal,
        onChunk(chunk) {
          const delta = chunk.choices?.[0]?.delta || {};
          if (delta.content) answer.content += delta.content;
          if (delta.reasoning_content) answer.reasoning += delta.reasoning_content;
          if (chunk.usage) answer.usage = { prompt: chunk.usage.prompt_tokens, completion: chunk.usage.completion_tokens };
          frame ||= requestAnimationFrame(redraw);
        },
      });
      const left = headers.get("x-ratelimit-remaining-requests");
      showStatus(status, left === null ? t("chat.done") : t("chat.doneLeft", { n: left }));
      announce(t("chat.answered"));
    } catch (error) {
      if (error.name === "AbortError") {
        answer.stopped = true;
        showStatus(status, t("chat.stoppedStatus"));
      } else if (!answer.content && !answer.reasoning) {
        // Refused before any answer (quota, bad request): take the turn back, keep the text to retry.
        state.history.splice(state.history.indexOf(question), 2);
        views.get(question)?.article.remove();
        view.article.remove();
        input.value = contentText(question.content);
        if (!state.history.length) log.append(empty);
        showStatus(status, describe(error), "error");
      } else {
        answer.error = error.message;
        showStatus(status, describe(error), "error");
      }
    } finally {
      if (frame) cancelAnimationFrame(frame);
      controller = null;
      setStreaming(false);
      if (state.history.includes(answer)) view.update({ final: true });
      scrollToEnd();
      save();
      renderSent();
      input.focus();
    }
  }

  function describe(error) {
    if (error instanceof ApiError && error.status === 429) return t("error.quota", { message: error.message });
    return t("error.generic", { message: error.message });
  }

  composer.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text || controller) return;
    if (!modelSelect.value) {
      showStatus(status, t("chat.noModel"), "error");
      return;
    }
    ask(text);
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      composer.requestSubmit();
    } else if (event.key === "Escape" && controller) {
      controller.abort();
    }
  });
  stop.addEventListener("click", () => controller?.abort());
  newChat.addEventListener("click", () => {
    controller?.abort();
    state.history = [];
    state.lastRequest = null;
    save();
    renderLog();
    renderSent();
    showStatus(status, t("chat.cleared"));
    input.focus();
  });
  modelSelect.addEventListener("change", () => {
    state.model = modelSelect.value;
    save();
    refreshModelOptions();
  });
  personaSelect.addEventListener("change", () => {
    choosePersona(personaSelect.value);
    announce(t("chat.personaChanged"));
  });
  systemInput.addEventListener("input", () => {
    state.system = systemInput.value;
    const persona = personas.find((p) => p.system === state.system);
    state.persona = persona ? persona.name : CUSTOM;
    personaSelect.value = state.persona;
    save();
    renderSent();
  });
  fileInput.addEventListener("change", () => {
    const file = fileInput.files[0];
    if (!file) return;
    if (file.size > MAX_IMAGE_BYTES) {
      showStatus(status, t("chat.imageTooLarge"), "error");
      clearAttachment();
      return;
    }
    const reader = new FileReader();
    reader.onload = () => {
      attachment = reader.result;
      attachName.textContent = file.name;
    };
    reader.readAsDataURL(file);
  });

  async function loadChoices() {
    try {
      const [modelList, personaList] = await Promise.all([get("/v1/models"), get("/console/api/personas")]);
      models = modelList.data.filter((m) => m.task === "chat" || m.task === "vision");
      personas = personaList.data;
    } catch (error) {
      showStatus(status, t("error.generic", { message: error.message }), "error");
      return;
    }
    fill(modelSelect, models.map((m) => h("option", { value: m.id }, m.id)));
    if (!models.length) showStatus(status, t("chat.noModel"), "error");
    if (models.some((m) => m.id === state.model)) modelSelect.value = state.model;
    const custom = h("option", { value: CUSTOM, i18n: "chat.personaCustom" });
    fill(personaSelect, personas.map((p) => h("option", { value: p.name }, p.description ? `${p.name} — ${p.description}` : p.name)), custom);
    if (!saved.system && state.persona) choosePersona(state.persona);
    personaSelect.value = personas.some((p) => p.name === state.persona) ? state.persona : CUSTOM;
    systemInput.value = state.system;
    refreshModelOptions();
    renderSent();
  }

  onLanguageChange(() => {
    if (!controller) renderLog(); // a streaming answer keeps its article; the next redraw translates it
    renderSent();
  });
  renderLog();
  renderSent();
  loadChoices();
  return {};
}
