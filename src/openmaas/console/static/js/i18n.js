// The console's words in English and Chinese. The choice is remembered in localStorage; the first visit
// follows the browser's language. `t(key, vars)` fills in {name} placeholders.
import { en, zh } from "./strings.js";

const KEY = "openmaas.console.lang";
const TABLES = { en, zh };
export const LANGUAGES = { en: "English", zh: "中文" };
const listeners = [];
let language = null;

export function currentLanguage() {
  if (language) return language;
  const saved = localStorage.getItem(KEY);
  if (saved in TABLES) return saved;
  return (navigator.language || "en").toLowerCase().startsWith("zh") ? "zh" : "en";
}

export function setLanguage(code) {
  language = code in TABLES ? code : "en";
  localStorage.setItem(KEY, language);
  document.documentElement.lang = language === "zh" ? "zh-CN" : "en";
  for (const listener of listeners) listener(language);
}

export function onLanguageChange(listener) {
  listeners.push(listener);
}

export function t(key, vars) {
  const table = TABLES[currentLanguage()];
  let text = table[key] ?? en[key] ?? key;
  if (vars) {
    for (const [name, value] of Object.entries(vars)) text = text.replaceAll(`{${name}}`, String(value));
  }
  return text;
}
