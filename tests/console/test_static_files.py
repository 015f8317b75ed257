"""The console's files as the server serves them: content types, caching, compression, security headers,
no path outside the console's folder, everything the page imports present, nothing from the network,
and every text in both languages."""

from __future__ import annotations

import gzip
import re
from importlib.resources import files
from pathlib import Path

from tests.conftest import Harness

STATIC = Path(str(files("openmaas.console") / "static"))
IMPORTS = re.compile(r"""(?:from\s+|import\s*\(\s*)["'](\.{1,2}/[^"']+)["']""")


async def test_the_page_is_served_at_the_root(harness: Harness) -> None:
    response = await harness.client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    policy = response.headers["content-security-policy"]
    assert (
        "script-src 'self'" in policy
        and "connect-src 'self'" in policy
        and "frame-ancestors 'none'" in policy
    )
    assert '<script type="module" src="/console/assets/js/main.js">' in response.text
    head = await harness.client.head("/")
    assert head.status_code == 200 and head.headers["etag"] == response.headers["etag"]


async def test_assets_have_types_etags_and_gzip(harness: Harness) -> None:
    plain = await harness.client.get("/console/assets/js/main.js", headers={"Accept-Encoding": "identity"})
    assert plain.status_code == 200
    assert plain.headers["content-type"] == "text/javascript; charset=utf-8"
    assert "content-encoding" not in plain.headers and plain.headers["vary"] == "Accept-Encoding"
    assert plain.content == (STATIC / "js" / "main.js").read_bytes()
    etag = plain.headers["etag"]
    unchanged = await harness.client.get("/console/assets/js/main.js", headers={"If-None-Match": f"W/{etag}"})
    assert unchanged.status_code == 304 and unchanged.content == b"" and unchanged.headers["etag"] == etag

    # httpx decodes gzip itself; a raw stream shows what went over the wire.
    request = harness.client.build_request("GET", "/console/assets/vendor/vendor.min.js")
    request.headers["Accept-Encoding"] = "gzip"
    response = await harness.client.send(request, stream=True)
    raw = b"".join([chunk async for chunk in response.aiter_raw()])
    assert response.headers["content-encoding"] == "gzip"
    assert gzip.decompress(raw) == (STATIC / "vendor" / "vendor.min.js").read_bytes()
    assert len(raw) < len(gzip.decompress(raw)) / 2
    css = await harness.client.get("/console/assets/css/console.css")
    assert css.headers["content-type"] == "text/css; charset=utf-8"
    icon = await harness.client.get("/console/assets/icon.svg")
    assert icon.headers["content-type"] == "image/svg+xml"


async def test_nothing_outside_the_console_folder(harness: Harness) -> None:
    for path in (
        "/console/assets/nope.js",
        "/console/assets/../../app.py",
        "/console/assets/%2e%2e/%2e%2e/app.py",
        "/console/assets/js",
        "/console/assets/",
    ):
        response = await harness.client.get(path)
        assert response.status_code == 404, path
        assert response.json()["error"]["type"] == "not_found_error"


async def test_every_import_and_reference_is_served(harness: Harness) -> None:
    index = (STATIC / "index.html").read_text()
    wanted = set(re.findall(r'(?:src|href)="/console/assets/([^"]+)"', index))
    for script in STATIC.rglob("*.js"):
        if "vendor" in script.parts:
            continue
        for target in IMPORTS.findall(script.read_text()):
            wanted.add((script.parent / target).resolve().relative_to(STATIC.resolve()).as_posix())
    assert {"js/main.js", "js/views/chat.js", "vendor/vendor.min.js"} <= wanted
    for path in sorted(wanted):
        response = await harness.client.get(f"/console/assets/{path}")
        assert response.status_code == 200, path


def test_nothing_is_loaded_from_the_network() -> None:
    for path in STATIC.rglob("*"):
        if path.suffix not in (".html", ".js", ".css") or "vendor" in path.parts:
            continue
        text = path.read_text()
        assert not re.search(r"""(?:src|href)\s*=\s*["']https?:""", text), path
        assert not re.search(r"""(?:from|import)\s*\(?\s*["']https?:""", text), path
        assert "url(http" not in text, path


def test_every_text_is_in_english_and_chinese() -> None:
    strings = (STATIC / "js" / "strings.js").read_text()
    english_part, chinese_part = strings.split("export const zh")
    key = re.compile(r'^\s+"?([\w.]+)"?:\s', re.MULTILINE)
    english, chinese = key.findall(english_part), key.findall(chinese_part)
    assert english == chinese  # the same keys, in the same order
    used: set[str] = set()
    for script in [*STATIC.rglob("*.js"), STATIC / "index.html"]:
        if "vendor" in script.parts or script.name == "strings.js":
            continue
        found = re.findall(r'"([a-z]+(?:\.[a-zA-Z]+)+)"', script.read_text())
        used |= {
            k for k in found if not k.startswith("openmaas.") and not k.endswith((".js", ".css", ".svg"))
        }
    dynamic = [f"chat.role.{r}" for r in ("system", "user", "assistant")]
    dynamic += [f"images.status.{s}" for s in ("PENDING", "RUNNING", "SUCCEED", "FAILED")]
    dynamic += [f"model.status.{s}" for s in ("ready", "loading", "failed", "idle")]
    missing = sorted((used | set(dynamic)) - set(english))
    assert not missing
    assert len(used) > 150
