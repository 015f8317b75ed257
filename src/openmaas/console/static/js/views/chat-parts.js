// Pieces of the chat playground: one message of the conversation, and the message list as the model
// receives it (the persona lesson: the system message goes first on every turn, then the whole history).
import { h, setText } from "../dom.js";
import { t } from "../i18n.js";
import { renderMarkdown } from "../markdown.js";

/** The text of a message's content (a string or a list of parts). */
export function contentText(content) {
  if (typeof content === "string") return content;
  return content.filter((p) => p.type === "text").map((p) => p.text).join("\n");
}

export function contentImages(content) {
  return typeof content === "string" ? [] : content.filter((p) => p.type === "image_url").map((p) => p.image_url.url);
}

/** An article for one message; `update()` redraws it from the message object as it streams. */
export function messageView(message) {
  const role = h("p", { className: "role", i18n: `chat.role.${message.role}` });
  const reasoningText = h("div", { className: "reasoning-text" });
  const reasoningLabel = h("span", { i18n: "chat.reasoning" });
  const reasoning = h("details", { className: "reasoning", hidden: true }, h("summary", {}, reasoningLabel), reasoningText);
  const body = h("div", { className: message.role === "assistant" ? "content markdown" : "content plain" });
  const meta = h("p", { className: "meta" });
  const assistant = message.role === "assistant";
  const article = h("article", { className: `msg ${message.role}` }, role, assistant ? reasoning : null, body, meta);
  let shownImages = false;

  function update({ final = false } = {}) {
    if (assistant) {
      if (message.reasoning) {
        reasoning.hidden = false;
        reasoningText.textContent = message.reasoning;
        setText(reasoningLabel, message.content || final ? "chat.reasoning" : "chat.reasoningLive");
      }
      renderMarkdown(body, message.content || "", { highlight: final });
    } else {
      body.textContent = contentText(message.content);
      if (!shownImages) {
        for (const url of contentImages(message.content)) {
          body.after(h("img", { className: "attached", src: url, alt: t("chat.attachedImage") }));
        }
        shownImages = true;
      }
    }
    const notes = [];
    if (message.stopped) notes.push(t("chat.stopped"));
    if (message.error) notes.push(t("error.generic", { message: message.error }));
    if (message.usage) notes.push(t("chat.tokens", message.usage));
    meta.textContent = notes.join(" · ");
    meta.dataset.kind = message.error ? "error" : "info";
    if (assistant) article.setAttribute("aria-busy", final ? "false" : "true");
  }

  update({ final: true });
  return { article, update };
}

/** The message list panel: each message with its role, then the JSON body of the last request. */
export function messageListView(messages, lastRequest) {
  const items = messages.map((m, index) =>
    h("li", { className: `sent-msg ${m.role}` },
      h("span", { className: "badge", dataset: { role: m.role } }, `${index + 1}. ${m.role}`),
      h("pre", { className: "sent-text" }, contentText(m.content) + (contentImages(m.content).length ? ` [+${contentImages(m.content).length} image]` : "")),
    ),
  );
  const list = h("ol", { className: "sent-list", i18nAttrs: { "aria-label": "chat.sent.listLabel" } }, items);
  const request = lastRequest
    ? h("details", { className: "sent-json" },
        h("summary", { i18n: "chat.sent.json" }),
        h("pre", {}, h("code", {}, JSON.stringify(redactImages(lastRequest), null, 2))))
    : null;
  return [h("p", { className: "hint", i18n: "chat.sent.explain" }), list, request];
}

function redactImages(body) {
  const messages = body.messages.map((m) =>
    typeof m.content === "string"
      ? m
      : { ...m, content: m.content.map((p) => (p.type === "image_url" ? { ...p, image_url: { url: `${p.image_url.url.slice(0, 40)}…` } } : p)) },
  );
  return { ...body, messages };
}
