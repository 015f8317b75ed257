"""Fetching images that clients point at (`image_url`, image parts of chat messages), safely.

A URL from a client must not become a way into the server's own network (SSRF). So:

- only `http(s)` URLs and `data:` URIs are taken;
- the host name is resolved once and every address it resolves to is checked: loopback, private,
  link-local, shared (CGNAT), multicast, reserved and cloud-metadata addresses are refused unless they
  are inside a network allow-listed in the settings (`fetch_allow_networks`);
- the connection goes to the checked address (the URL's host stays in the `Host` header and TLS SNI, and
  the certificate is verified against it), so no second DNS lookup can answer differently;
- redirects are followed by hand, each new location checked the same way; environment proxies are not
  used (a proxy would resolve the name itself);
- the body is capped in bytes, the whole fetch in time, and the content must decode as an image (with
  Pillow) of at most `fetch_max_pixels` pixels.

Each refusal is an `InvalidRequest` (400) that names the field and says why.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import ipaddress
import socket
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from io import BytesIO
from urllib.parse import unquote

import httpx
from PIL import Image, UnidentifiedImageError

from openmaas.domain.errors import InvalidRequest
from openmaas.settings import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[list[IPAddress]]]

MAX_REDIRECTS = 5
IMAGE_FORMATS = frozenset({"PNG", "JPEG", "WEBP", "GIF", "BMP"})
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_METADATA = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "169.254.170.2", "100.100.100.200", "fd00:ec2::254")
)
_SHARED = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


@dataclass(frozen=True, slots=True)
class FetchPolicy:
    allow_networks: tuple[IPNetwork, ...] = ()
    max_bytes: int = 20 * 1024 * 1024
    max_pixels: int = 4096 * 4096
    timeout: float = 15.0

    @classmethod
    def from_settings(cls, settings: Settings) -> FetchPolicy:
        return cls(
            allow_networks=tuple(
                ipaddress.ip_network(n, strict=False) for n in settings.fetch_allow_networks
            ),
            max_bytes=settings.fetch_max_bytes,
            max_pixels=settings.fetch_max_pixels,
            timeout=settings.fetch_timeout_seconds,
        )


@dataclass(frozen=True, slots=True)
class FetchedImage:
    data: bytes
    format: str
    width: int
    height: int


def refusal_reason(address: IPAddress) -> str | None:
    """Why a connection to `address` is refused, or None if it is a public address."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or (
            ipaddress.IPv4Address(int(address) & 0xFFFFFFFF) if address in _NAT64 else None
        )
        if embedded is not None:
            return refusal_reason(embedded)
    checks: list[tuple[bool, str]] = [
        (address in _METADATA, "a cloud metadata address"),
        (address.is_loopback, "a loopback address"),
        (address.is_unspecified, "an unspecified address"),
        (address.is_link_local, "a link-local address"),
        (address in _SHARED, "a shared (CGNAT) address"),
        (address.is_multicast, "a multicast address"),
        (address.is_reserved, "a reserved address"),
        (address.is_private, "a private address"),
        (not address.is_global, "not a public address"),
    ]
    return next((reason for refused, reason in checks if refused), None)


async def system_resolve(host: str, port: int) -> list[IPAddress]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    found: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    return found


class ImageFetcher:
    """Fetches and checks images under a `FetchPolicy`. One per app; close it with `aclose()`."""

    def __init__(
        self,
        policy: FetchPolicy,
        *,
        resolve: Resolver = system_resolve,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.policy = policy
        self._resolve = resolve
        # No pooled connections: a TLS connection checked for one host name must not serve another.
        self._client = httpx.AsyncClient(
            transport=transport,
            trust_env=False,
            follow_redirects=False,
            timeout=policy.timeout,
            limits=httpx.Limits(max_keepalive_connections=0),
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def fetch(self, url: str, *, field: str) -> FetchedImage:
        """The image at `url` (http(s) or data:), checked; `field` names the request field in errors."""
        if url[:5].lower() == "data:":
            data = _decode_data_uri(url, field, self.policy.max_bytes)
        else:
            try:
                async with asyncio.timeout(self.policy.timeout):
                    data = await self._download(url, field)
            except TimeoutError:
                raise _refused(
                    field, f"fetching the image took longer than {self.policy.timeout:g} s"
                ) from None
        return await asyncio.to_thread(_decode_image, data, field, self.policy.max_pixels)

    async def _download(self, url: str, field: str) -> bytes:
        current = _http_url(url, field)
        for _ in range(MAX_REDIRECTS + 1):
            address = await self._checked_address(current, field)
            response = await self._send(current, address, field)
            try:
                if response.status_code in _REDIRECTS and "location" in response.headers:
                    current = _http_url(str(current.join(response.headers["location"])), field)
                    continue
                if response.status_code != 200:
                    raise _refused(field, f"the image server answered HTTP {response.status_code}")
                return await self._body(response, field)
            finally:
                await response.aclose()
        raise _refused(field, f"more than {MAX_REDIRECTS} redirects")

    async def _checked_address(self, url: httpx.URL, field: str) -> IPAddress:
        host = url.raw_host.decode("ascii")
        try:
            addresses = await self._resolve(host, url.port or (443 if url.scheme == "https" else 80))
        except (OSError, UnicodeError):
            raise _refused(field, f"the host {url.host!r} could not be resolved") from None
        if not addresses:
            raise _refused(field, f"the host {url.host!r} could not be resolved")
        for address in addresses:
            reason = refusal_reason(address)
            if reason is not None and not any(address in n for n in self.policy.allow_networks):
                raise _refused(field, f"{url.host} resolves to {address}, {reason}")
        return addresses[0]

    async def _send(self, url: httpx.URL, address: IPAddress, field: str) -> httpx.Response:
        request = self._client.build_request(
            "GET",
            url.copy_with(host=str(address)),
            headers={
                "Host": url.netloc.decode("ascii"),
                "Accept": "image/*",
                "User-Agent": "OpenMaaS image fetcher",
            },
            extensions={"sni_hostname": url.raw_host.decode("ascii")} if url.scheme == "https" else {},
        )
        try:
            return await self._client.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise _refused(field, f"could not fetch the image ({type(exc).__name__})") from None

    async def _body(self, response: httpx.Response, field: str) -> bytes:
        limit = self.policy.max_bytes
        declared = response.headers.get("content-length", "")
        if declared.isascii() and declared.isdigit() and int(declared[:20]) > limit:
            raise _refused(field, f"the image is larger than {limit} bytes")
        body = bytearray()
        try:
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > limit:
                    raise _refused(field, f"the image is larger than {limit} bytes")
        except httpx.HTTPError as exc:
            raise _refused(field, f"the download failed ({type(exc).__name__})") from None
        return bytes(body)


def _refused(field: str, reason: str) -> InvalidRequest:
    return InvalidRequest(f"{field}: {reason}.", param=field, code="invalid_image_url")


def _http_url(text: str, field: str) -> httpx.URL:
    try:
        url = httpx.URL(text)
    except httpx.InvalidURL:
        raise _refused(field, "not a valid URL") from None
    if url.scheme not in ("http", "https"):
        raise _refused(field, f"only http(s) URLs and data: URIs are accepted, not {url.scheme or 'this'}")
    if not url.host:
        raise _refused(field, "the URL has no host")
    return url


def _decode_data_uri(uri: str, field: str, max_bytes: int) -> bytes:
    header, comma, payload = uri[5:].partition(",")
    media_type, *parameters = header.split(";")
    if not comma or "base64" not in (p.strip().lower() for p in parameters):
        raise _refused(field, "a data: URI must be base64-encoded (data:image/png;base64,...)")
    if media_type and not media_type.strip().lower().startswith("image/"):
        raise _refused(field, f"the data: URI holds {media_type.strip()}, not an image")
    payload = unquote(payload) if "%" in payload else payload
    compact = "".join(payload.split())
    if len(compact) // 4 * 3 > max_bytes + 3:
        raise _refused(field, f"the image is larger than {max_bytes} bytes")
    try:
        data = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise _refused(field, "the data: URI is not valid base64") from None
    if len(data) > max_bytes:
        raise _refused(field, f"the image is larger than {max_bytes} bytes")
    return data


def _decode_image(data: bytes, field: str, max_pixels: int) -> FetchedImage:
    """Check that `data` decodes, completely, as an image of an accepted format and size."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(BytesIO(data)) as image:
                image_format = image.format or ""
                width, height = image.size
                if image_format not in IMAGE_FORMATS:
                    raise _refused(field, f"the image format {image_format or 'unknown'} is not accepted")
                if width * height > max_pixels:
                    raise _refused(
                        field, f"the image has {width}x{height} pixels, more than the limit of {max_pixels}"
                    )
                image.load()
    except InvalidRequest:
        raise
    except (
        UnidentifiedImageError,
        OSError,
        SyntaxError,
        ValueError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
    ):
        raise _refused(field, "the content is not a valid image") from None
    return FetchedImage(data=data, format=image_format, width=width, height=height)
