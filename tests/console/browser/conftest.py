"""The web console in a real browser: Debian's chromium driven by Playwright, against a real `openmaas
serve` process on scripted chat models and the random-weight demo image model.

The browser is never downloaded (`playwright install` is not used): when /usr/bin/chromium is missing the
browser tests are skipped with the reason, except under `CI=true`, where they fail. `make install-dev`
installs chromium from Debian.

They live in a package of their own: Playwright's sync API runs an event loop in the main thread while
the browser is open, so the package-scoped browser must be closed before any asyncio test runs.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.servers import ServerProcess, server_process

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
# Screenshots go to a scratch folder, so a test run leaves the tree clean; `make screenshots` points this at
# docs/screenshots to refresh the pictures in the docs.
SCREENSHOTS = Path(os.environ.get("OPENMAAS_SCREENSHOTS") or Path(tempfile.gettempdir(), "openmaas-shots"))
SCRIPTED = "tests.fakes:ScriptedChatEngine"
DEMO = "openmaas/tiny-sd-demo"
# Markdown with a code block, written into the TOML file (where each \n becomes a new line).
THINKER_REPLY = (
    "Two lines of Python:\\n\\n```python\\nfor n in range(2):\\n    print(n)\\n```\\n\\n"
    "That prints **0** and **1**."
)


def models_toml(record: Path) -> str:
    return f"""
include_builtin = false

[[models]]
id = "test/persona"
task = "chat"
engine = "{SCRIPTED}"
description = "Answers in character (a scripted test model)."
[models.options]
reply = "Meow! You said: {{last_user}}"
token_delay = 0.02
record_file = {json.dumps(str(record))}

[[models]]
id = "test/thinker"
task = "chat"
engine = "{SCRIPTED}"
[models.options]
reply = "{THINKER_REPLY}"
reasoning = "The user wants a loop, so I write one."
record_file = {json.dumps(str(record))}

[[models]]
id = "test/slow"
task = "chat"
engine = "{SCRIPTED}"
[models.options]
reply = "{" ".join(f"word{i}" for i in range(200))}"
token_delay = 0.05

[[models]]
id = "{DEMO}"
task = "image"
engine = "diffusers"
owned_by = "openmaas"
capabilities = ["edit", "loras", "size:64x64-1024x1024"]
description = "DEMO, random weights."
[models.options]
build_demo = true
torch_threads = 1
default_size = "128x128"
default_steps = 4
[models.options.loras]
"openmaas/tiny-sd-demo-lora-a" = "demo"
"openmaas/tiny-sd-demo-lora-b" = "demo"
"""


def require_chromium() -> None:
    """Skip (or, under CI=true, fail) when the browser or the Playwright package is missing."""
    reason = None
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing (make install-dev installs Debian's chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError as exc:
            reason = f"the playwright package is missing ({exc}); run make install-dev"
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; under CI=true the browser tests must run")
    pytest.skip(reason)


@dataclass
class Console:
    """The server, its admin token (user `local`, from `serve --local-token`) and a user token."""

    server: ServerProcess
    admin_token: str
    user_token: str
    record: Path

    @property
    def url(self) -> str:
        return self.server.base_url

    def api(self, method: str, path: str, token: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.request(method, f"{self.url}{path}", headers=headers, timeout=30, **kwargs)

    def chat_requests(self) -> list[dict[str, Any]]:
        if not self.record.exists():
            return []
        return [json.loads(line) for line in self.record.read_text().splitlines()]


@pytest.fixture(scope="package")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    require_chromium()
    root = tmp_path_factory.mktemp("console")
    record = root / "requests.jsonl"
    models = root / "models.toml"
    models.write_text(models_toml(record))
    with server_process(root / "data", models, extra=("--local-token",)) as server:
        found = re.search(r"Access token for user 'local': (ms-[0-9a-f-]+)", server.log())
        assert found, server.log()
        admin_token = found.group(1)
        console = Console(server, admin_token, "", record)
        added = console.api(
            "POST", "/admin/api/users", admin_token, json={"name": "alice", "daily_limit": 50}
        )
        assert added.status_code == 201, added.text
        issued = console.api(
            "POST", "/admin/api/users/alice/tokens", admin_token, json={"label": "browser tests"}
        )
        assert issued.status_code == 201, issued.text
        console.user_token = issued.json()["token"]
        yield console


@pytest.fixture(scope="package")
def browser(console: Console) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def new_page(browser: Any, console: Console) -> Iterator[Any]:
    """`new_page(viewport=..., lang=...)`: a page in a fresh context (its own session storage); the test
    fails on any error the page's scripts raise."""
    contexts = []
    errors: list[str] = []

    def make(width: int = 1280, height: int = 860, lang: str = "en") -> Any:
        context = browser.new_context(viewport={"width": width, "height": height}, locale=lang)
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("console", lambda msg: errors.append(msg.text) if _script_error(msg) else None)
        page.on("dialog", lambda dialog: dialog.accept())
        page.goto(console.url + "/")
        return page

    yield make
    for context in contexts:
        context.close()
    assert not errors, errors


def _script_error(message: Any) -> bool:
    # The browser logs every 4xx response as an error; the tests cause some on purpose.
    return bool(message.type == "error" and "Failed to load resource" not in message.text)


def sign_in(page: Any, token: str) -> None:
    page.get_by_label("Access token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("navigation", name="Main").wait_for()


def screenshot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=False)
