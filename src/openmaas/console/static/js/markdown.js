// Markdown of model answers → sanitised HTML. The model's text is untrusted: marked turns it into HTML,
// DOMPurify removes anything active (scripts, event handlers, javascript: URLs, forms, frames, styles),
// and highlight.js colours code blocks. Raw HTML in the answer is shown as text, not rendered.
import { DOMPurify, hljs, Marked } from "../vendor/vendor.min.js";

const marked = new Marked({ gfm: true, breaks: false });
marked.use({
  renderer: {
    // Raw HTML written by the model is escaped, so it shows as the text it is.
    html({ text }) {
      return escapeHtml(text);
    },
  },
});

const PURIFY = {
  USE_PROFILES: { html: true },
  FORBID_TAGS: ["style", "form", "input", "button", "textarea", "select", "iframe", "object", "embed"],
  FORBID_ATTR: ["style"],
  ALLOWED_URI_REGEXP: /^(?:https?:|mailto:|#)/i,
};

// Links open in a new tab without handing it this page (and its session) or a referrer.
DOMPurify.addHook("afterSanitizeAttributes", (node) => {
  if (node.tagName === "A" && node.hasAttribute("href")) {
    node.setAttribute("target", "_blank");
    node.setAttribute("rel", "noopener noreferrer");
  }
  if (node.tagName === "IMG") {
    node.setAttribute("loading", "lazy");
    node.setAttribute("referrerpolicy", "no-referrer");
  }
});

function escapeHtml(text) {
  return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

/** Render `text` into `target` (replacing its content), highlighting code when `highlight` is set. */
export function renderMarkdown(target, text, { highlight = true } = {}) {
  const html = DOMPurify.sanitize(marked.parse(text), PURIFY);
  target.innerHTML = html; // sanitised just above
  if (!highlight) return;
  for (const block of target.querySelectorAll("pre code")) {
    const language = [...block.classList].find((c) => c.startsWith("language-"))?.slice(9);
    if (language && hljs.getLanguage(language)) {
      block.innerHTML = hljs.highlight(block.textContent, { language, ignoreIllegals: true }).value;
    } else {
      block.innerHTML = hljs.highlightAuto(block.textContent).value;
    }
    block.classList.add("hljs");
  }
}
