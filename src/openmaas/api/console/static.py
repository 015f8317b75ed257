"""The console's static files, shipped inside the package and served at `/` (the page) and
`/console/assets/…` (its scripts, styles and icons). No CDN: the console works offline.

The files are read once, when the app is built, so a request never touches the file system (and no
path can reach outside the console's folder). Each response carries an ETag and `Cache-Control:
no-cache`: the browser revalidates and gets a 304 while a file is unchanged, and sees a new version at
once after an upgrade. Text files go out gzip-compressed to clients that accept it. The page forbids
inline scripts and foreign code with its Content-Security-Policy; images may also come from `data:` and
`blob:` (uploads) and from http(s) URLs (output images may live in object storage).
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from importlib.abc import Traversable
from importlib.resources import files

from fastapi import APIRouter, Request, Response

from openmaas.api.openai.errors import OpenAIRoute
from openmaas.domain.errors import NotFound

MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
}
COMPRESSIBLE = (".html", ".js", ".css", ".svg", ".json", ".txt")
PAGE = "index.html"
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data: blob: http: https:; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    gzipped: bytes | None
    media_type: str
    etag: str


class ConsoleAssets:
    def __init__(self, assets: dict[str, Asset]) -> None:
        self.assets = assets

    @classmethod
    def load(cls, root: Traversable | None = None) -> ConsoleAssets:
        """Read every servable file under `root` (default: the package's `console/static`)."""
        root = root if root is not None else files("openmaas.console") / "static"
        assets: dict[str, Asset] = {}
        for path, item in _walk(root, ""):
            suffix = "." + path.rpartition(".")[2]
            media_type = MEDIA_TYPES.get(suffix)
            if media_type is None:
                continue
            body = item.read_bytes()
            gzipped = gzip.compress(body, 9, mtime=0) if suffix in COMPRESSIBLE else None
            if gzipped is not None and len(gzipped) >= len(body):
                gzipped = None
            etag = '"' + hashlib.sha256(body).hexdigest()[:24] + '"'
            assets[path] = Asset(body, gzipped, media_type, etag)
        if PAGE not in assets:
            raise RuntimeError(f"the console's {PAGE} is missing from {root}")
        return cls(assets)

    def response(self, path: str, request: Request) -> Response:
        asset = self.assets.get(path)
        if asset is None:
            raise NotFound(f"No console file {path!r}.", code="not_found")
        headers = {"ETag": asset.etag, "Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
        if path == PAGE:
            headers.update(PAGE_HEADERS)
        if asset.etag in _etags(request.headers.get("if-none-match")):
            return Response(status_code=304, headers=headers)
        body = asset.body
        if asset.gzipped is not None:
            headers["Vary"] = "Accept-Encoding"
            if "gzip" in request.headers.get("accept-encoding", ""):
                body = asset.gzipped
                headers["Content-Encoding"] = "gzip"
        return Response(body, media_type=asset.media_type, headers=headers)


def _walk(folder: Traversable, prefix: str) -> list[tuple[str, Traversable]]:
    found: list[tuple[str, Traversable]] = []
    for item in folder.iterdir():
        if item.name.startswith("."):
            continue
        if item.is_dir():
            found += _walk(item, f"{prefix}{item.name}/")
        else:
            found.append((prefix + item.name, item))
    return found


def _etags(header: str | None) -> set[str]:
    if not header:
        return set()
    return {tag.strip().removeprefix("W/") for tag in header.split(",")}


def console_router(assets: ConsoleAssets) -> APIRouter:
    router = APIRouter(route_class=OpenAIRoute)

    @router.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    async def page(request: Request) -> Response:
        return assets.response(PAGE, request)

    @router.api_route("/console/assets/{path:path}", methods=["GET", "HEAD"], include_in_schema=False)
    async def asset(path: str, request: Request) -> Response:
        return assets.response(path, request)

    return router
