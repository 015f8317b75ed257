"""The web console's files (`static/`): a page of plain ES modules, no build step, served by the server
at `/` (see `openmaas.api.console.static`). `static/vendor/` is the bundled third-party code (marked,
DOMPurify, highlight.js), rebuilt from `console/` in the source tree with `make console-assets`."""
