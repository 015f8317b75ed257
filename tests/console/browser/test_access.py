"""The console by keyboard alone, for screen readers (landmarks, labels, live regions), and at a phone's
width (375 px): no view may need sideways scrolling."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.console.browser.conftest import Console, screenshot, sign_in

ROUTES = {
    "chat": "Chat playground",
    "images": "Image studio",
    "usage": "Usage",
    "tokens": "Access tokens",
}
ADMIN_ROUTES = {
    "admin/users": "Users",
    "admin/tokens": "All tokens",
    "admin/models": "Models",
    "admin/usage": "Usage report",
}
# Every visible control, link and scrolling region without an accessible name.
UNLABELLED = """() => [
  ...document.querySelectorAll('input, select, textarea, button, a[href], [role=region]')]
  .filter(el => el.getClientRects().length > 0)
  .filter(el => {
    const named = el.getAttribute('aria-label') || el.getAttribute('aria-labelledby');
    if (el.matches('button, a')) return !(named || el.textContent.trim());
    if (el.matches('[role=region]')) return !named;
    return !(named || (el.labels && el.labels.length));
  })
  .map(el => el.outerHTML.slice(0, 120))"""


def tab_to(page: Any, check: str, limit: int = 60, back: bool = False) -> None:
    """Press Tab (or Shift+Tab) until `check` (a JS expression on `el`, the focused element) holds."""
    for _ in range(limit):
        page.keyboard.press("Shift+Tab" if back else "Tab")
        if page.evaluate(f"(() => {{ const el = document.activeElement; return !!({check}); }})()"):
            return
    raise AssertionError(f"focus never reached: {check}")


def test_the_main_views_work_by_keyboard_alone(console: Console, new_page: Any) -> None:
    page = new_page()
    expect(page.get_by_role("heading", name="Sign in to OpenMaaS")).to_be_focused()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.name") == "token"
    page.keyboard.type(console.user_token)
    page.keyboard.press("Enter")
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    expect(page.get_by_role("heading", name="Chat playground", exact=True)).to_be_focused()
    tab_to(page, "el.id === 'skip'", back=True)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Chat playground", exact=True)).to_be_focused()

    tab_to(page, "el.name === 'message'")
    page.keyboard.type("typed without a mouse")
    page.keyboard.press("Enter")
    answer = page.locator("section[data-view='chat'] article.msg.assistant").last
    expect(answer.locator(".content")).to_have_text("Meow! You said: typed without a mouse")
    tab_to(page, "el.matches('#chat-sent > summary')", back=True)
    page.keyboard.press("Enter")
    expect(page.locator("#chat-sent .sent-list")).to_be_visible()

    tab_to(page, "el.textContent === 'Images'", back=True)
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"  # a visible focus ring
    page.keyboard.press("Enter")
    expect(page.locator("section[data-view='images']")).to_be_visible()
    expect(page.get_by_role("heading", name="Image studio", exact=True)).to_be_focused()
    tab_to(page, "el.name === 'prompt'")
    page.keyboard.type("typed prompt")
    tab_to(page, "el.textContent === 'Generate'")
    page.keyboard.press("Enter")
    gallery = page.locator("ul.gallery > li").filter(has_text="typed prompt")
    expect(gallery).to_have_count(1, timeout=60_000)

    tab_to(page, "el.textContent === 'Tokens'", back=True, limit=80)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Access tokens", exact=True)).to_be_focused()
    tab_to(page, "el.name === 'label'")
    page.keyboard.type("keyboard")
    page.keyboard.press("Enter")
    expect(page.locator("section[data-view='tokens'] .shown-once")).to_be_visible()


def test_admin_dialogs_work_by_keyboard(console: Console, new_page: Any) -> None:
    page = new_page()
    sign_in(page, console.admin_token)
    page.evaluate("location.hash = '#/admin/users'")
    expect(page.get_by_role("heading", name="Users", exact=True)).to_be_focused()
    tab_to(page, "el.getAttribute('aria-label') === 'Edit alice'")
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Limits of alice")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("Calls a day (all models)")).to_be_focused()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()


def test_every_control_is_labelled_and_the_page_has_landmarks(console: Console, new_page: Any) -> None:
    page = new_page()
    assert page.evaluate(UNLABELLED) == []
    sign_in(page, console.admin_token)
    expect(page.get_by_role("banner")).to_have_count(1)
    expect(page.get_by_role("main")).to_have_count(1)
    for route, title in {**ROUTES, **ADMIN_ROUTES}.items():
        page.evaluate(f"location.hash = '#/{route}'")
        expect(page.get_by_role("heading", name=title, exact=True)).to_be_visible()
        page.wait_for_load_state("networkidle")
        assert page.evaluate(UNLABELLED) == [], route
    page.evaluate("location.hash = '#/chat'")
    log = page.get_by_role("log", name="Conversation")
    expect(log).to_have_attribute("aria-live", "polite")


def test_the_views_fit_a_phone(console: Console, new_page: Any) -> None:
    page = new_page(width=375, height=740)
    sign_in(page, console.user_token)
    chat = page.locator("section[data-view='chat']")
    chat.get_by_label("Message", exact=True).fill("Hello from a phone")
    chat.get_by_role("button", name="Send").click()
    expect(chat.locator("article.msg.assistant .content").last).to_have_text(
        "Meow! You said: Hello from a phone"
    )
    for route, title in ROUTES.items():
        page.evaluate(f"location.hash = '#/{route}'")
        expect(page.get_by_role("heading", name=title, exact=True)).to_be_visible()
        page.wait_for_load_state("networkidle")
        assert page.evaluate("document.documentElement.scrollWidth") <= 375, route
        if route in ("chat", "images"):
            screenshot(page, f"phone-{route}")

    admin = new_page(width=375, height=740)
    sign_in(admin, console.admin_token)
    for route, title in ADMIN_ROUTES.items():
        admin.evaluate(f"location.hash = '#/{route}'")
        expect(admin.get_by_role("heading", name=title, exact=True)).to_be_visible()
        admin.wait_for_load_state("networkidle")
        assert admin.evaluate("document.documentElement.scrollWidth") <= 375, route
