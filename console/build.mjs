// Builds src/openmaas/console/static/vendor/ from the pinned packages in package-lock.json:
//   vendor.min.js   marked, DOMPurify and highlight.js (core + common languages) as one ES module
//   highlight.css   highlight.js's accessible a11y themes, light and (prefers-color-scheme) dark
//   LICENSES.txt    the licences of everything bundled
// Run with `make console-assets`; the output is committed, so installing OpenMaaS needs no Node.js.
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "src", "openmaas", "console", "static", "vendor");
const modules = join(here, "node_modules");
mkdirSync(out, { recursive: true });

await esbuild.build({
  entryPoints: [join(here, "vendor.js")],
  outfile: join(out, "vendor.min.js"),
  bundle: true,
  format: "esm",
  minify: true,
  target: "es2020",
  legalComments: "none",
  charset: "utf8",
});

const theme = (name) => readFileSync(join(modules, "highlight.js", "styles", `${name}.css`), "utf8");
const css = `${theme("a11y-light")}\n@media (prefers-color-scheme: dark) {\n${theme("a11y-dark")}\n}\n`;
const minified = await esbuild.transform(css, { loader: "css", minify: true, legalComments: "none" });
writeFileSync(join(out, "highlight.css"), minified.code);

const packages = ["marked", "dompurify", "highlight.js"];
const licences = packages.map((name) => {
  const meta = JSON.parse(readFileSync(join(modules, name, "package.json"), "utf8"));
  const text = readFileSync(join(modules, name, "LICENSE"), "utf8").trim();
  return `${name} ${meta.version} (${meta.license})\n${"=".repeat(60)}\n${text}\n`;
});
const header = "Third-party code bundled in vendor.min.js and highlight.css (see console/ in the source tree).\n\n";
writeFileSync(join(out, "LICENSES.txt"), header + licences.join("\n"));
console.log(`built ${out}`);
