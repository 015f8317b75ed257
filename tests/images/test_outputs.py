"""Output images at signed, expiring URLs: fetchable with a bare GET; a wrong, tampered or expired
signature is a 403; the signing secret is created once (0600) and survives restarts."""

from __future__ import annotations

import stat
import time
from urllib.parse import parse_qs, urlsplit

from openmaas.store.files import FILES_PREFIX
from openmaas.store.signed_urls import KEY_FILE, UrlSigner, load_or_create_secret
from tests.images.conftest import AppFactory, ImageHarness

PAINT = {"model": "test/painter", "prompt": "a golden cat", "n": 2}


def _parts(url: str) -> tuple[str, str, str]:
    split = urlsplit(url)
    query = parse_qs(split.query)
    return split.path, query["expires"][0], query["signature"][0]


async def _urls(harness: ImageHarness) -> list[str]:
    body = (await harness.generate(PAINT)).json()
    return [d["url"] for d in body["data"]]


async def test_bare_get_and_head(painter: ImageHarness) -> None:
    url = (await _urls(painter))[0]
    assert url.startswith("http://testserver/v1/files/outputs/")
    response = await painter.client.get(url)  # no Authorization header
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.content.startswith(b"\x89PNG")
    head = await painter.client.head(url)
    assert head.status_code == 200
    assert head.headers["content-length"] == str(len(response.content))


async def test_wrong_tampered_missing_and_expired_signatures_are_403(painter: ImageHarness) -> None:
    first, second = await _urls(painter)
    path, expires, signature = _parts(first)
    other_path = _parts(second)[0]
    forged = signature[:-4] + ("0000" if not signature.endswith("0000") else "1111")
    attempts = {
        "wrong signature": f"{path}?expires={expires}&signature={forged}",
        "another file": f"{other_path}?expires={expires}&signature={signature}",
        "later expiry": f"{path}?expires={int(expires) + 3600}&signature={signature}",
        "unsigned": path,
        "no expiry": f"{path}?signature={signature}",
    }
    for case, url in attempts.items():
        response = await painter.client.get(url)
        assert response.status_code == 403, case
        assert response.json()["error"]["type"] == "permission_error", case

    secret = load_or_create_secret(painter.services.settings.data_dir)
    key = path.removeprefix(FILES_PREFIX)
    expired = UrlSigner(secret, clock=lambda: time.time() - 7200).sign(FILES_PREFIX + key, 3600)
    response = await painter.client.get(expired)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "expired_url"


async def test_only_output_files_are_served_even_when_signed(painter: ImageHarness) -> None:
    """Even a valid signature over another path in the data dir serves nothing (dot segments are
    resolved by the client, which then fails the signature or the route)."""
    secret = load_or_create_secret(painter.services.settings.data_dir)
    signer = UrlSigner(secret)
    for key in ("openmaas.db", "url-signing.key", "inputs/abc", "outputs/x/0.png"):
        response = await painter.client.get(signer.sign(FILES_PREFIX + key, 60))
        assert response.status_code == 404, key
    for key in ("../openmaas.db", "outputs/x/../../openmaas.db"):
        response = await painter.client.get(signer.sign(FILES_PREFIX + key, 60))
        assert response.status_code in (403, 404), key


async def test_an_output_deleted_under_its_signed_url_is_404(painter: ImageHarness) -> None:
    """The retention clean-up can delete a file at any moment, even between a request's check of its
    signature and the read: the answer is the route's 404, never a server error."""
    url = (await _urls(painter))[0]
    key = _parts(url)[0].removeprefix(FILES_PREFIX)
    (painter.services.settings.data_dir / key).unlink()
    response = await painter.client.get(url)
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "not_found_error"
    assert (await painter.client.head(url)).status_code == 404


async def test_the_secret_is_private_and_survives_restarts(scripted_app: AppFactory) -> None:
    async with scripted_app() as harness:
        url = (await _urls(harness))[0]
        key_file = harness.services.settings.data_dir / KEY_FILE
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        secret = key_file.read_bytes()
    async with scripted_app() as harness:
        assert (harness.services.settings.data_dir / KEY_FILE).read_bytes() == secret
        assert (await harness.client.get(url)).status_code == 200


async def test_public_base_url(scripted_app: AppFactory) -> None:
    async with scripted_app(public_base_url="https://maas.example.com/") as harness:
        url = (await _urls(harness))[0]
        assert url.startswith("https://maas.example.com/v1/files/outputs/")
        path, expires, signature = _parts(url)
        local = f"{path}?expires={expires}&signature={signature}"
        assert (await harness.client.get(local)).status_code == 200
