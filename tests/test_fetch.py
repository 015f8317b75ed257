"""The safe image fetcher: SSRF refusals (after DNS and on every redirect), caps, timeout, decoding.

Addresses outside loopback are only ever refused here, never contacted: those tests give the fetcher a
transport that fails the test if it is used at all.
"""

from __future__ import annotations

import asyncio
import base64
import io
import ipaddress
import random
from collections.abc import AsyncIterator
from dataclasses import replace
from urllib.parse import urlencode

import httpx
import pytest
from PIL import Image
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from openmaas.domain.errors import InvalidRequest
from openmaas.fetch import MAX_REDIRECTS, FetchPolicy, ImageFetcher, IPAddress, refusal_reason
from openmaas.settings import Settings
from tests.servers import uvicorn_server

FIELD = "image_url"
LOOPBACK_ONLY = (ipaddress.ip_network("127.0.0.1/32"),)


def png(width: int = 32, height: int = 32) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 120, 40)).save(buffer, format="PNG")
    return buffer.getvalue()


def noise_png() -> bytes:
    buffer = io.BytesIO()
    Image.frombytes("RGB", (64, 64), random.Random(1).randbytes(64 * 64 * 3)).save(buffer, format="PNG")
    return buffer.getvalue()


async def _slow(_: Request) -> Response:
    await asyncio.sleep(1.5)  # longer than the 1 s limit of the test; short, so the server stops soon
    return Response(png(), media_type="image/png")


async def _chunked(_: Request) -> StreamingResponse:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(100):
            yield b"\0" * 10_000

    return StreamingResponse(chunks(), media_type="image/png")


def _image_server() -> Starlette:
    seen_hosts: list[str] = []

    async def host(request: Request) -> Response:
        seen_hosts.append(request.headers["host"])
        return Response(png(), media_type="image/png")

    routes = [
        Route("/cat.png", lambda _: Response(png(), media_type="image/png")),
        Route("/big.png", lambda _: Response(png(600, 600), media_type="image/png")),
        Route("/wide.png", lambda _: Response(png(3000, 3000), media_type="image/png")),
        Route("/text", lambda _: Response("hello", media_type="text/plain")),
        Route("/truncated.png", lambda _: Response(noise_png()[:3000], media_type="image/png")),
        Route("/redirect", lambda r: RedirectResponse(r.query_params["to"], status_code=302)),
        Route("/missing", lambda _: Response("no", status_code=404)),
        Route("/slow", _slow),
        Route("/chunked", _chunked),
        Route("/host", host),
    ]
    app = Starlette(routes=routes)
    app.state.seen_hosts = seen_hosts
    return app


@pytest.fixture(scope="module")
async def server() -> AsyncIterator[tuple[str, Starlette]]:
    app = _image_server()
    async with uvicorn_server(app) as base_url:  # type: ignore[arg-type]
        yield base_url, app


def _forbidden_transport() -> httpx.MockTransport:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"the fetcher tried to connect to {request.url}")

    return httpx.MockTransport(refuse)


async def _refusal(fetcher: ImageFetcher, url: str) -> str:
    with pytest.raises(InvalidRequest) as caught:
        await fetcher.fetch(url, field=FIELD)
    assert caught.value.param == FIELD
    assert caught.value.status == 400
    assert caught.value.message.startswith(f"{FIELD}: ")
    return caught.value.message


async def test_fetches_and_checks_an_image(server: tuple[str, Starlette]) -> None:
    fetcher = ImageFetcher(FetchPolicy(allow_networks=LOOPBACK_ONLY))
    image = await fetcher.fetch(f"{server[0]}/cat.png", field=FIELD)
    assert (image.format, image.width, image.height) == ("PNG", 32, 32)
    assert image.data == png()
    await fetcher.aclose()


async def test_loopback_is_refused_without_the_allowlist(server: tuple[str, Starlette]) -> None:
    fetcher = ImageFetcher(FetchPolicy())
    port = server[0].rsplit(":", 1)[1]
    for url in (f"{server[0]}/cat.png", f"http://localhost:{port}/cat.png", f"http://[::1]:{port}/cat.png"):
        assert "a loopback address" in await _refusal(fetcher, url)
    await fetcher.aclose()


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://10.0.0.1/a.png", "a private address"),
        ("http://172.16.5.4/a.png", "a private address"),
        ("https://192.168.1.1/a.png", "a private address"),
        ("http://169.254.169.254/latest/meta-data/", "a cloud metadata address"),
        ("http://100.100.100.200/latest/meta-data/", "a cloud metadata address"),
        ("http://[fd00:ec2::254]/", "a cloud metadata address"),
        ("http://169.254.1.1/", "a link-local address"),
        ("http://100.64.1.1/", "a shared (CGNAT) address"),
        ("http://[fe80::1]/", "a link-local address"),
        ("http://[fd12:3456::1]/", "a private address"),
        ("http://[::ffff:127.0.0.1]/", "a loopback address"),
        ("http://[::ffff:10.0.0.1]/", "a private address"),
        ("http://[64:ff9b::a00:1]/", "a private address"),
        ("http://0.0.0.0/", "an unspecified address"),
        ("http://224.0.0.1/", "a multicast address"),
        ("http://240.0.0.1/", "a reserved address"),
        ("http://127.1.2.3:8080/x.png", "a loopback address"),
    ],
)
async def test_private_and_special_addresses_are_refused(url: str, reason: str) -> None:
    fetcher = ImageFetcher(FetchPolicy(), transport=_forbidden_transport())
    assert reason in await _refusal(fetcher, url)


async def test_names_are_checked_after_resolution() -> None:
    addresses: dict[str, list[IPAddress]] = {
        "intranet.example": [ipaddress.ip_address("10.1.2.3")],
        # One bad address among good ones is enough to refuse (DNS may answer either next time).
        "mixed.example": [ipaddress.ip_address("93.184.216.34"), ipaddress.ip_address("192.168.0.7")],
    }

    async def resolve(host: str, port: int) -> list[IPAddress]:
        if host not in addresses:
            raise OSError("unknown host")
        return addresses[host]

    fetcher = ImageFetcher(FetchPolicy(), resolve=resolve, transport=_forbidden_transport())
    assert "intranet.example resolves to 10.1.2.3, a private address" in await _refusal(
        fetcher, "https://intranet.example/cat.png"
    )
    assert "192.168.0.7, a private address" in await _refusal(fetcher, "https://mixed.example/cat.png")
    assert "could not be resolved" in await _refusal(fetcher, "https://nowhere.example/cat.png")


async def test_the_connection_goes_to_the_checked_address(server: tuple[str, Starlette]) -> None:
    """`images.test` does not exist in DNS: the fetch only works if the checked address is used."""
    base, app = server
    port = int(base.rsplit(":", 1)[1])

    async def resolve(host: str, _port: int) -> list[IPAddress]:
        assert host == "images.test"
        return [ipaddress.ip_address("127.0.0.1")]

    fetcher = ImageFetcher(FetchPolicy(allow_networks=LOOPBACK_ONLY), resolve=resolve)
    image = await fetcher.fetch(f"http://images.test:{port}/host", field=FIELD)
    assert image.width == 32
    assert app.state.seen_hosts[-1] == f"images.test:{port}"
    await fetcher.aclose()


async def test_every_redirect_is_checked(server: tuple[str, Starlette]) -> None:
    base = server[0]
    port = base.rsplit(":", 1)[1]
    fetcher = ImageFetcher(FetchPolicy(allow_networks=LOOPBACK_ONLY), transport=None)
    followed = await fetcher.fetch(f"{base}/redirect?to=/cat.png", field=FIELD)
    assert followed.format == "PNG"
    # 127.0.0.2 is loopback too, and outside the one allow-listed address.
    message = await _refusal(fetcher, f"{base}/redirect?to=http://127.0.0.2:{port}/cat.png")
    assert "127.0.0.2 resolves to 127.0.0.2, a loopback address" in message
    message = await _refusal(fetcher, f"{base}/redirect?to=http://169.254.169.254/latest/meta-data/")
    assert "a cloud metadata address" in message
    message = await _refusal(fetcher, f"{base}/redirect?to=file:///etc/passwd")
    assert "only http(s)" in message
    await fetcher.aclose()


async def test_too_many_redirects(server: tuple[str, Starlette]) -> None:
    fetcher = ImageFetcher(FetchPolicy(allow_networks=LOOPBACK_ONLY))
    url = "/cat.png"
    for _ in range(MAX_REDIRECTS):
        url = "/redirect?" + urlencode({"to": url})
    assert (await fetcher.fetch(server[0] + url, field=FIELD)).format == "PNG"
    url = "/redirect?" + urlencode({"to": url})
    assert f"more than {MAX_REDIRECTS} redirects" in await _refusal(fetcher, server[0] + url)
    await fetcher.aclose()


async def test_caps_timeout_and_content_checks(server: tuple[str, Starlette]) -> None:
    base = server[0]
    policy = FetchPolicy(allow_networks=LOOPBACK_ONLY, max_bytes=200_000, max_pixels=1_000_000, timeout=1.0)
    fetcher = ImageFetcher(policy)
    assert "larger than 200000 bytes" in await _refusal(fetcher, f"{base}/chunked")
    small_cap = ImageFetcher(replace(policy, max_bytes=1000))
    assert "larger than 1000 bytes" in await _refusal(small_cap, f"{base}/big.png")
    assert "3000x3000 pixels" in await _refusal(fetcher, f"{base}/wide.png")
    assert "not a valid image" in await _refusal(fetcher, f"{base}/text")
    assert "not a valid image" in await _refusal(fetcher, f"{base}/truncated.png")
    assert "HTTP 404" in await _refusal(fetcher, f"{base}/missing")
    assert "longer than 1 s" in await _refusal(fetcher, f"{base}/slow")
    for one in (fetcher, small_cap):
        await one.aclose()


async def test_data_uris() -> None:
    fetcher = ImageFetcher(FetchPolicy(max_bytes=50_000), transport=_forbidden_transport())
    encoded = base64.b64encode(png()).decode()
    image = await fetcher.fetch(f"data:image/png;base64,{encoded}", field=FIELD)
    assert (image.format, image.width) == ("PNG", 32)
    assert "base64-encoded" in await _refusal(fetcher, "data:image/png,rawbytes")
    assert "not an image" in await _refusal(fetcher, f"data:text/html;base64,{encoded}")
    assert "not valid base64" in await _refusal(fetcher, "data:image/png;base64,@@@@")
    text = base64.b64encode(b"hello, not an image").decode()
    assert "not a valid image" in await _refusal(fetcher, f"data:image/png;base64,{text}")
    big = base64.b64encode(png(400, 400) + b"\0" * 60_000).decode()
    assert "larger than 50000 bytes" in await _refusal(fetcher, f"data:image/png;base64,{big}")


def test_public_addresses_are_fine() -> None:
    for text in ("93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "64:ff9b::808:808"):
        assert refusal_reason(ipaddress.ip_address(text)) is None


def test_allowlist_setting_is_validated() -> None:
    assert Settings(fetch_allow_networks=("10.1.0.0/16",)).fetch_allow_networks == ("10.1.0.0/16",)
    with pytest.raises(ValidationError):
        Settings(fetch_allow_networks=("intranet",))
