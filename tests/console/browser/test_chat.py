"""The console in chromium: signing in, the chat playground (streaming, Markdown, reasoning, personas and
the message list, the stop button) and the language switch."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from tests.console.browser.conftest import Console, screenshot, sign_in


def chat_view(page: Any) -> Any:
    return page.locator("section[data-view='chat']")


LABELS = {"en": ("Model", "Message", "Send"), "zh": ("模型", "消息", "发送")}


def ask(page: Any, model: str, text: str, lang: str = "en") -> Any:
    """Send `text` to `model`; the answer's article."""
    view = chat_view(page)
    model_label, message_label, send_label = LABELS[lang]
    view.get_by_label(model_label, exact=True).select_option(model)
    view.get_by_label(message_label, exact=True).fill(text)
    view.get_by_role("button", name=send_label).click()
    return view.locator("article.msg.assistant").last


def test_sign_in_keeps_the_token_in_the_tab_only(console: Console, new_page: Any) -> None:
    page = new_page()
    expect(page.get_by_role("heading", name="Sign in to OpenMaaS")).to_be_visible()
    screenshot(page, "signin")
    page.get_by_label("Access token").fill("ms-00000000-0000-4000-8000-000000000000")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".signin .status")).to_have_text("This token is unknown or revoked.")

    sign_in(page, console.user_token)
    expect(page.locator("#whoami")).to_have_text("Signed in as alice")
    expect(page.get_by_role("link", name="Users")).to_have_count(0)  # no admin views for alice
    assert console.user_token not in page.url
    assert page.evaluate("sessionStorage.getItem('openmaas.console.token')") == console.user_token
    assert console.user_token not in page.evaluate("JSON.stringify(localStorage)")
    page.reload()
    expect(page.locator("#whoami")).to_have_text("Signed in as alice")

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in to OpenMaaS")).to_be_visible()
    expect(page.locator(".signin .status")).to_have_text("You are signed out.")
    assert page.evaluate("sessionStorage.getItem('openmaas.console.token')") is None


def test_chat_streams_a_markdown_answer_with_folded_reasoning(console: Console, new_page: Any) -> None:
    page = new_page()
    sign_in(page, console.user_token)
    with page.expect_response("**/v1/chat/completions") as response:
        answer = ask(page, "test/persona", "hello there")
    assert response.value.headers["content-type"].startswith("text/event-stream")
    assert response.value.request.post_data_json["stream"] is True
    expect(answer.locator(".content")).to_have_text("Meow! You said: hello there")
    expect(answer).to_have_attribute("aria-busy", "false")
    expect(answer.locator(".meta")).to_contain_text("answer tokens")

    answer = ask(page, "test/thinker", "Write a loop")
    expect(answer.locator("pre code.hljs .hljs-keyword").first).to_have_text("for")
    expect(answer.locator("strong")).to_have_text(["0", "1"])
    reasoning = answer.locator("details.reasoning")
    expect(reasoning).to_be_visible()
    expect(reasoning).not_to_have_attribute("open", "")
    expect(reasoning.locator("summary")).to_have_text("Reasoning")
    assert "The user wants a loop" in reasoning.locator(".reasoning-text").text_content()
    screenshot(page, "chat")


def test_model_text_is_shown_as_text_never_as_html(console: Console, new_page: Any) -> None:
    page = new_page()
    sign_in(page, console.user_token)
    attack = "<img src=x onerror=\"document.title='owned'\"><script>document.title='owned'</script>"
    answer = ask(page, "test/persona", attack)
    expect(answer.locator(".content")).to_contain_text("<img src=x")
    expect(answer.locator("img, script")).to_have_count(0)
    expect(chat_view(page).locator("article.msg.user .content").last).to_have_text(attack)
    assert page.title() != "owned"


def test_a_persona_is_the_system_message_sent_first(console: Console, new_page: Any) -> None:
    page = new_page()
    sign_in(page, console.user_token)
    view = chat_view(page)
    view.get_by_label("Persona").select_option("cat")
    # The built-in persona of `openmaas chat`:
    expect(view.get_by_label("System prompt")).to_have_value(re.compile(r"^You are a kitten\."))
    answer = ask(page, "test/persona", "What do you eat?")
    expect(answer.locator(".content")).to_have_text("Meow! You said: What do you eat?")

    view.locator("#chat-sent > summary").click()
    items = view.locator(".sent-list li")
    expect(items).to_have_count(3)
    expect(items.nth(0).locator(".badge")).to_have_text("1. system")
    expect(items.nth(0)).to_contain_text("You are a kitten")
    expect(items.nth(1)).to_contain_text("What do you eat?")
    sent = console.chat_requests()[-1]["messages"]
    assert sent[0]["role"] == "system" and sent[0]["content"][0]["text"].startswith("You are a kitten.")
    assert sent[-1]["content"][0]["text"] == "What do you eat?"

    # Changing the persona changes the first message; the history stays.
    view.get_by_label("Persona").select_option("wukong")
    expect(items.nth(0)).to_contain_text("Sun Wukong")
    expect(view.locator("#chat-sent > summary")).to_have_text("Message list (3)")
    answer = ask(page, "test/persona", "Who are you?")
    expect(answer.locator(".content")).to_have_text("Meow! You said: Who are you?")
    sent = console.chat_requests()[-1]["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]
    assert "Sun Wukong" in sent[0]["content"][0]["text"]
    view.locator(".sent-json summary").click()
    expect(view.locator(".sent-json code")).to_contain_text('"stream": true')
    view.locator("details.settings > summary").click()  # folded, so the list shows on the screen
    screenshot(page, "chat-message-list")


def test_the_stop_button_ends_the_stream(console: Console, new_page: Any) -> None:
    page = new_page()
    sign_in(page, console.user_token)
    answer = ask(page, "test/slow", "count")
    expect(answer.locator(".content")).to_contain_text("word3")
    expect(answer).to_have_attribute("aria-busy", "true")
    chat_view(page).get_by_role("button", name="Stop").click()
    expect(answer.locator(".meta")).to_have_text("stopped")
    expect(answer).to_have_attribute("aria-busy", "false")
    assert "word199" not in answer.locator(".content").text_content()
    expect(chat_view(page).get_by_role("button", name="Send")).to_be_enabled()


def test_the_language_switch_is_remembered(console: Console, new_page: Any) -> None:
    page = new_page()
    sign_in(page, console.user_token)
    page.get_by_label("Language").select_option("zh")
    expect(page.get_by_role("heading", name="对话演练场")).to_be_visible()
    expect(page.get_by_role("link", name="图像")).to_be_visible()
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    page.reload()
    expect(page.get_by_role("link", name="对话")).to_have_attribute("aria-current", "page")
    answer = ask(page, "test/persona", "你好", lang="zh")
    expect(answer).to_have_attribute("aria-busy", "false")
    expect(answer.locator(".role")).to_have_text("助手")
    screenshot(page, "chat-zh")
    page.get_by_label("语言").select_option("en")
    expect(page.get_by_role("heading", name="Chat playground")).to_be_visible()
