"""The console's admin views in chromium, and the admin API refusing everyone else."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.console.browser.conftest import DEMO, Console, screenshot, sign_in


def admin_view(page: Any, link: str, route: str) -> Any:
    page.get_by_role("navigation", name="Main").get_by_role("link", name=link, exact=True).click()
    view = page.locator(f"section[data-view='{route}']")
    expect(view).to_be_visible()
    return view


def test_an_admin_changes_a_users_limit(console: Console, new_page: Any) -> None:
    page = new_page()
    sign_in(page, console.admin_token)
    expect(page.locator("#whoami")).to_have_text("Signed in as local (admin)")
    view = admin_view(page, "Users", "admin/users")
    row = view.locator("tbody tr").filter(has=page.locator("th", has_text="alice"))
    expect(row.locator("td").nth(0)).to_have_text("50")
    row.get_by_role("button", name="Edit alice").click()
    dialog = page.get_by_role("dialog", name="Limits of alice")
    expect(dialog.get_by_label("Calls a day (all models)")).to_be_focused()
    dialog.get_by_label("Calls a day (all models)").fill("7")
    dialog.get_by_label("Calls a day per model").fill("3")
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_be_hidden()
    expect(row.locator("td").nth(0)).to_have_text("7")
    expect(row.locator("td").nth(1)).to_have_text("3")
    usage = console.api("GET", "/v1/usage", console.user_token).json()
    assert usage["limit"] == 7
    assert {m["limit"] for m in usage["models"]} == {3}
    screenshot(page, "admin-users")

    # Back to the server's defaults (empty fields), so the other tests keep their calls.
    row.get_by_role("button", name="Edit alice").click()
    dialog.get_by_label("Calls a day (all models)").fill("50")
    dialog.get_by_label("Calls a day per model").fill("")
    dialog.get_by_role("button", name="Save").click()
    expect(row.locator("td").nth(1)).to_contain_text("no cap")
    assert (
        console.api("GET", "/admin/api/users/alice", console.admin_token).json()["model_daily_limit"] is None
    )


def test_an_admin_adds_a_user_and_hands_out_a_token(console: Console, new_page: Any) -> None:
    page = new_page()
    sign_in(page, console.admin_token)
    view = admin_view(page, "Users", "admin/users")
    view.locator("details > summary", has_text="Add a user").click()
    add = view.locator("details")
    add.get_by_label("Name", exact=True).fill("carol")
    add.get_by_label("Calls a day (all models)").fill("20")
    add.get_by_role("button", name="Add a user").click()
    row = view.locator("tbody tr").filter(has=page.locator("th", has_text="carol"))
    expect(row.locator("td").nth(0)).to_have_text("20")
    row.get_by_role("button", name="New token for carol").click()
    dialog = page.get_by_role("dialog", name="A new token")
    expect(dialog).to_contain_text("For user carol.")
    token = dialog.locator("input").input_value()
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_be_hidden()
    usage = console.api("GET", "/v1/usage", token).json()
    assert usage["user"] == "carol" and usage["limit"] == 20
    expect(row.locator("td").nth(4)).to_have_text("1")  # active tokens


def test_admin_views_of_tokens_models_and_usage(console: Console, new_page: Any) -> None:
    console.api(
        "POST",
        "/v1/chat/completions",
        console.user_token,
        json={
            "model": "test/persona",
            "messages": [{"role": "user", "content": "counted"}],
        },
    ).raise_for_status()
    page = new_page()
    sign_in(page, console.admin_token)

    view = admin_view(page, "All tokens", "admin/tokens")
    expect(view.locator("tbody tr").filter(has_text="browser tests")).to_contain_text("alice")
    screenshot(page, "admin-tokens")

    view = admin_view(page, "Models", "admin/models")
    rows = view.locator("tbody tr")
    expect(rows).to_have_count(4)
    expect(rows.filter(has_text=DEMO)).to_contain_text("ready")
    expect(rows.filter(has_text=DEMO)).to_contain_text("loras")
    screenshot(page, "admin-models")

    view = admin_view(page, "Usage report", "admin/usage")
    view.get_by_role("button", name="Show").click()
    by_user = view.get_by_role("region", name="Per user")
    expect(by_user.locator("tbody tr").filter(has_text="alice")).to_be_visible()
    expect(
        view.get_by_role("region", name="Per model").locator("tbody tr").filter(has_text="test/persona")
    ).to_be_visible()
    screenshot(page, "admin-usage")


def test_the_admin_api_refuses_non_admins(console: Console, new_page: Any) -> None:
    for path in ("/admin/api/users", "/admin/api/tokens", "/admin/api/models", "/admin/api/usage"):
        refused = console.api("GET", path, console.user_token)
        assert refused.status_code == 403, (path, refused.text)
        assert refused.json()["error"]["type"] == "permission_error"
        assert console.api("GET", path, "").status_code == 401
    changed = console.api("PATCH", "/admin/api/users/alice", console.user_token, json={"daily_limit": 10_000})
    assert changed.status_code == 403

    page = new_page()
    sign_in(page, console.user_token)
    expect(page.get_by_role("link", name="Users")).to_have_count(0)
    page.goto(console.url + "/#/admin/users")
    expect(page.get_by_role("heading", name="Chat playground")).to_be_visible()
    assert page.url.endswith("#/chat")
    status = page.evaluate(
        """() => fetch('/admin/api/users', {headers: {Authorization:
            'Bearer ' + sessionStorage.getItem('openmaas.console.token')}}).then(r => r.status)"""
    )
    assert status == 403
