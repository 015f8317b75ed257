"""The console in chromium: the image studio (async tasks with progress, LoRAs, editing an upload, the
gallery), the user's tokens (created, shown once, revoked) and today's usage."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

from PIL import Image
from playwright.sync_api import expect

from tests.console.browser.conftest import DEMO, Console, screenshot, sign_in


def open_view(page: Any, link: str, route: str) -> Any:
    page.get_by_role("navigation", name="Main").get_by_role("link", name=link, exact=True).click()
    view = page.locator(f"section[data-view='{route}']")
    expect(view).to_be_visible()
    return view


def test_images_are_generated_as_tasks_and_shown_in_the_gallery(
    console: Console, new_page: Any, tmp_path: Path
) -> None:
    page = new_page()
    sign_in(page, console.user_token)
    studio = open_view(page, "Images", "images")
    form = studio.locator("form.studio-form")
    expect(form.get_by_label("Model", exact=True)).to_have_value(DEMO)
    form.get_by_label("Prompt", exact=True).fill("a golden cat")
    form.get_by_label("Seed").fill("42")
    form.get_by_role("checkbox", name="openmaas/tiny-sd-demo-lora-a").check()
    with page.expect_request("**/v1/images/generations") as submitted:
        form.get_by_role("button", name="Generate").click()
    assert submitted.value.headers["x-modelscope-async-mode"] == "true"
    gallery = studio.locator("ul.gallery > li")
    expect(gallery.filter(has_text="a golden cat")).to_have_count(1, timeout=60_000)
    image = gallery.filter(has_text="a golden cat").locator("img")
    expect(image).to_have_attribute("alt", "Image 1 for: a golden cat")
    image.evaluate("img => img.decode()")
    assert image.evaluate("img => img.naturalWidth") == 128
    expect(gallery.filter(has_text="a golden cat")).to_contain_text("seed 42")
    expect(gallery.filter(has_text="a golden cat")).to_contain_text("LoRA: openmaas/tiny-sd-demo-lora-a")

    listed = console.api("GET", "/v1/tasks", console.user_token).json()["data"]
    task = next(t for t in listed if t["input"]["prompt"] == "a golden cat")
    assert task["task_status"] == "SUCCEED"
    assert task["input"]["seed"] == 42 and task["input"]["loras"] == {"openmaas/tiny-sd-demo-lora-a": 1.0}

    # Edit an uploaded picture: sent as a data URI, shown with its progress, then in the gallery.
    upload = tmp_path / "photo.png"
    buffer = io.BytesIO()
    Image.new("RGB", (96, 64), (200, 40, 40)).save(buffer, format="PNG")
    upload.write_bytes(buffer.getvalue())
    form.get_by_label("Prompt", exact=True).fill("make it blue")
    form.get_by_label("Image to edit").set_input_files(str(upload))
    expect(form.locator("img.preview")).to_be_visible()
    with page.expect_request("**/v1/images/generations") as submitted:
        form.get_by_role("button", name="Generate").click()
    assert submitted.value.post_data_json["image_url"].startswith("data:image/png;base64,")
    expect(studio.locator("li.task progress").or_(gallery.filter(has_text="make it blue"))).not_to_have_count(
        0
    )
    expect(gallery.filter(has_text="make it blue")).to_contain_text("edit", timeout=60_000)
    expect(gallery.first).to_contain_text("make it blue")  # newest first
    screenshot(page, "images")


def test_a_token_is_shown_once_and_revoked_at_once(console: Console, new_page: Any) -> None:
    page = new_page()
    sign_in(page, console.user_token)
    view = open_view(page, "Tokens", "tokens")
    view.get_by_label("Label").fill("notebook")
    view.get_by_role("button", name="Create token").click()
    shown = view.locator(".shown-once")
    expect(shown).to_contain_text("shown only once")
    token = shown.locator("input").input_value()
    assert re.fullmatch(r"ms-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", token)
    assert console.api("GET", "/v1/usage", token).status_code == 200

    row = view.locator("tbody tr").filter(has_text="notebook")
    expect(row).to_contain_text(token[:11])
    expect(view.locator("tbody tr").filter(has_text="this session")).to_have_count(1)
    row.get_by_role("button", name=f"Revoke token {token[:11]}").click()  # the dialog is accepted
    expect(row).to_contain_text("revoked")
    expect(shown).to_have_count(0)  # the revoked token's text is taken off the page
    assert console.api("GET", "/v1/usage", token).status_code == 401
    screenshot(page, "tokens")


def test_usage_shows_todays_calls_and_the_reset(console: Console, new_page: Any) -> None:
    before = console.api("GET", "/v1/usage", console.user_token).json()
    page = new_page()
    sign_in(page, console.user_token)
    view = open_view(page, "Usage", "usage")
    limit = before["limit"]
    expect(view.locator("#usage-total")).to_contain_text(f"of {limit} calls used")
    expect(view.locator(".reset")).to_contain_text(f"({before['timezone']}), in ")
    rows = view.locator("tbody tr")
    expect(rows).to_have_count(len(before["models"]))
    used = {m["model"]: m["used"] for m in before["models"]}
    expect(rows.filter(has_text=DEMO).locator("td").first).to_have_text(str(used[DEMO]))
    screenshot(page, "usage")
