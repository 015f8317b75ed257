"""`openmaas chat` in a pseudo-terminal and through a pipe, against a real server on scripted engines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pexpect

from openmaas.personas import Personas
from tests.cli.chat.conftest import (
    PROMPT,
    ChatServer,
    chat_env,
    piped,
    quit_chat,
    say,
    spawn_chat,
)
from tests.servers import free_port


def cat_system() -> str:
    cat = Personas.load(None).find("cat")
    assert cat is not None
    return cat.system


CAT_SYSTEM = cat_system()


def texts(request: dict[str, Any]) -> list[tuple[str, str]]:
    """(role, text) of each message the engine received."""
    return [(m["role"], "".join(p["text"] for p in m["content"])) for m in request["messages"]]


def test_the_persona_is_sent_on_every_turn_with_the_history(chat_server: ChatServer, tmp_path: Path) -> None:
    before = len(chat_server.requests())
    child = spawn_chat(tmp_path, chat_server.base_url, chat_server.token, "--persona", "cat", "--no-color")
    for question in ("hello", "what do you like to eat?", "what are your hobbies?"):
        assert f"Meow! You said: {question}" in say(child, question)
    assert quit_chat(child) == 0

    turns = [texts(r) for r in chat_server.requests()[before:]]
    assert len(turns) == 3
    assert all(turn[0] == ("system", CAT_SYSTEM) for turn in turns)
    assert turns[2] == [
        ("system", CAT_SYSTEM),
        ("user", "hello"),
        ("assistant", "Meow! You said: hello"),
        ("user", "what do you like to eat?"),
        ("assistant", "Meow! You said: what do you like to eat?"),
        ("user", "what are your hobbies?"),
    ]


def test_show_reset_save_and_load(chat_server: ChatServer, tmp_path: Path) -> None:
    child = spawn_chat(tmp_path, chat_server.base_url, chat_server.token, "--system", "You are Sun Wukong.")
    say(child, "who are you?")
    shown = say(child, "/show")
    assert shown.index("messages start") < shown.index('"role": "system", "content": "You are Sun Wukong."')
    assert '{"role": "user", "content": "who are you?"}' in shown
    assert '{"role": "assistant", "content": "Meow! You said: who are you?"}' in shown
    assert "\x1b[41m" in shown and "\x1b[42m" in shown and "\x1b[43m" in shown  # alternating backgrounds

    transcript = tmp_path / "talk.json"
    assert "saved 3 messages" in say(child, f"/save {transcript}")
    saved = json.loads(transcript.read_text())
    assert saved["model"] == "test/persona" and [m["role"] for m in saved["messages"]] == [
        "system",
        "user",
        "assistant",
    ]

    assert "history cleared" in say(child, "/reset")
    shown = say(child, "/show")
    assert "You are Sun Wukong." in shown and "who are you?" not in shown
    before = len(chat_server.requests())
    say(child, "after the reset")
    assert texts(chat_server.requests()[before]) == [
        ("system", "You are Sun Wukong."),
        ("user", "after the reset"),
    ]

    assert "loaded 3 messages" in say(child, f"/load {transcript}")
    say(child, "after the load")
    assert texts(chat_server.requests()[-1]) == [
        ("system", "You are Sun Wukong."),
        ("user", "who are you?"),
        ("assistant", "Meow! You said: who are you?"),
        ("user", "after the load"),
    ]
    assert "cannot read" in say(child, f"/load {tmp_path / 'missing.json'}")
    assert quit_chat(child) == 0


def test_no_color_is_honoured(chat_server: ChatServer, tmp_path: Path) -> None:
    env = chat_env(chat_server.base_url, chat_server.token, NO_COLOR="1")
    child = spawn_chat(tmp_path, chat_server.base_url, chat_server.token, env=env)
    say(child, "hi")
    shown = say(child, "/show")
    assert '"content": "You are a helpful assistant."' in shown  # the default persona
    assert "\x1b[41m" not in shown and "\x1b[42m" not in shown
    assert quit_chat(child) == 0


def test_persona_and_model_switch_mid_conversation(chat_server: ChatServer, tmp_path: Path) -> None:
    child = spawn_chat(tmp_path, chat_server.base_url, chat_server.token, "--no-color")
    say(child, "first")
    assert "you are now talking to wukong" in say(child, "/persona 孙悟空")
    assert "wukong" in say(child, "/persona") and "no persona 'dog'" in say(child, "/persona dog")
    assert "now talking to test/thinker" in say(child, "/model test/thinker")
    answer = say(child, "what is 2 + 2?")
    assert "(thinking) Two plus two makes four." in answer and "The answer is 4." in answer
    assert "lists no model 'no/such'" in say(child, "/model no/such")
    assert "unknown command /frobnicate" in say(child, "/frobnicate")
    assert quit_chat(child) == 0
    last = [r for r in chat_server.requests() if texts(r)[-1] == ("user", "first")][-1]
    assert texts(last)[0] == ("system", "You are a helpful assistant.")


def test_ctrl_c_stops_the_answer_and_keeps_the_session(chat_server: ChatServer, tmp_path: Path) -> None:
    child = spawn_chat(
        tmp_path, chat_server.base_url, chat_server.token, "--model", "test/slow", "--no-color"
    )
    child.sendline("talk for a while")
    child.expect_exact("word2 ")
    child.sendintr()
    child.expect_exact("[stopped]")
    child.expect_exact(PROMPT)
    shown = say(child, "/show")
    kept = json.loads(shown[shown.index('{"role": "assistant"') :].splitlines()[0])
    assert kept["content"].startswith("word0 word1 word2")
    assert "word59" not in kept["content"]  # it stopped well before the end
    say(child, "/model test/persona")
    assert "Meow! You said: still here?" in say(child, "still here?")
    assert quit_chat(child) == 0


def test_piped_question_prints_one_answer(chat_server: ChatServer, tmp_path: Path) -> None:
    result = piped(
        tmp_path, chat_server.base_url, chat_server.token, "what do cats eat?\n", "--persona", "cat"
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "Meow! You said: what do cats eat?\n", "")
    assert texts(chat_server.requests()[-1]) == [("system", CAT_SYSTEM), ("user", "what do cats eat?")]


def test_error_lines_when_piped(chat_server: ChatServer, tmp_path: Path) -> None:
    def one_line_failure(result: Any) -> str:
        assert result.returncode == 1 and result.stdout == ""
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
        return str(result.stderr)

    bad_token = piped(tmp_path, chat_server.base_url, "ms-00000000-0000-4000-8000-000000000000", "hi")
    assert "401 unauthorized" in one_line_failure(bad_token)

    nowhere = f"http://127.0.0.1:{free_port()}/v1"
    refused = piped(tmp_path, nowhere, chat_server.token, "hi", "--model", "test/persona")
    assert f"cannot connect to {nowhere}: connection refused" in one_line_failure(refused)

    limited = chat_server.user_token("one-call", "--daily-limit", "1")
    first = piped(tmp_path, chat_server.base_url, limited, "the only call", "--model", "test/persona")
    assert first.returncode == 0
    over = piped(tmp_path, chat_server.base_url, limited, "one too many", "--model", "test/persona")
    line = one_line_failure(over)
    assert "429 quota exceeded" in line and "resets at" in line

    empty = piped(tmp_path, chat_server.base_url, chat_server.token, "", "--model", "test/persona")
    assert "nothing to ask" in one_line_failure(empty)
    no_token = piped(tmp_path, chat_server.base_url, "", "hi", "--model", "test/persona")
    assert "no access token" in one_line_failure(no_token)


def test_an_error_keeps_the_interactive_session(chat_server: ChatServer, tmp_path: Path) -> None:
    limited = chat_server.user_token("quota-spent", "--daily-limit", "1")
    child = spawn_chat(tmp_path, chat_server.base_url, limited, "--model", "test/persona", "--no-color")
    assert "Meow! You said: one" in say(child, "one")
    refused = say(child, "two")
    assert "429 quota exceeded" in refused and "Traceback" not in refused
    usage = say(child, "/usage")
    assert "1 used, 0 left of 1" in usage and "resets at" in usage
    assert "two" not in say(child, "/show")  # the refused question is not kept
    assert quit_chat(child) == 0


def test_ctrl_d_leaves(chat_server: ChatServer, tmp_path: Path) -> None:
    child = spawn_chat(tmp_path, chat_server.base_url, chat_server.token)
    child.sendeof()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
