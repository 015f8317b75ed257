"""`openmaas chat` parameters: `--max-tokens`, `--temperature`, `--top-p`, `--seed`, and `/set NAME VALUE`
in the session, in a real terminal (pexpect) and through a pipe, against a real server on scripted
engines that record what they receive."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.cli.chat.conftest import ChatServer, piped, quit_chat, say, spawn_chat


def sampling(request: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = request["sampling"]
    return values


def test_flags_are_sent_with_every_question(chat_server: ChatServer, tmp_path: Path) -> None:
    flags = ("--max-tokens", "3", "--temperature", "0.5", "--top-p", "0.9", "--seed", "7")
    child = spawn_chat(tmp_path, chat_server.base_url, chat_server.token, "--model", "test/slow", *flags)
    answer = say(child, "talk for a while")
    assert "word0 word1 word2" in answer and "word3" not in answer
    assert "[cut short at max_tokens=3; /set max_tokens N allows longer answers]" in answer
    sent = sampling(chat_server.requests()[-1])
    assert (sent["max_tokens"], sent["temperature"], sent["top_p"], sent["seed"]) == (3, 0.5, 0.9, 7)
    shown = say(child, "/show")
    assert "parameters: max_tokens=3 temperature=0.5 top_p=0.9 seed=7" in shown
    assert quit_chat(child) == 0


def test_set_in_the_session(chat_server: ChatServer, tmp_path: Path) -> None:
    args = ("--model", "test/persona", "--no-color")
    child = spawn_chat(tmp_path, chat_server.base_url, chat_server.token, *args)
    assert "/set NAME VALUE" in say(child, "/help")
    assert "parameters: none set: the server's defaults apply" in say(child, "/show")

    assert "max_tokens = 2" in say(child, "/set max_tokens 2")
    answer = say(child, "hello there")
    assert "Meow! You" in answer and "said" not in answer and "[cut short at max_tokens=2" in answer
    assert sampling(chat_server.requests()[-1])["max_tokens"] == 2

    assert "temperature must be between 0 and 2" in say(child, "/set temperature 3")
    assert "no parameter 'warmth'" in say(child, "/set warmth 1")
    assert "expected a whole number, got 'lots'" in say(child, "/set seed lots")
    assert "temperature = 0.2" in say(child, "/set temperature 0.2")
    assert "top_p = 0.5" in say(child, "/set top-p 0.5")  # dashes work
    assert "max_tokens = 4" in say(child, "/set parameter num_predict 4")  # Ollama's spelling
    listed = say(child, "/set")
    assert "max_tokens   4" in listed and "seed         default" in listed
    assert "parameters: max_tokens=4 temperature=0.2 top_p=0.5" in say(child, "/show parameters")

    assert "max_tokens: the server's default" in say(child, "/set max_tokens default")
    answer = say(child, "hello again")
    assert "Meow! You said: hello again" in answer and "cut short" not in answer
    sent = sampling(chat_server.requests()[-1])
    assert (sent["temperature"], sent["top_p"]) == (0.2, 0.5) and sent["max_tokens"] != 4
    assert "system message set" in say(child, "/set system You are a dog.")  # as in Ollama
    assert '"content": "You are a dog."' in say(child, "/show")
    assert quit_chat(child) == 0


def test_piped_with_parameters(chat_server: ChatServer, tmp_path: Path) -> None:
    args = ("--model", "test/persona", "--max-tokens", "2", "--seed", "11")
    result = piped(tmp_path, chat_server.base_url, chat_server.token, "what do cats eat?", *args)
    assert (result.returncode, result.stdout, result.stderr) == (0, "Meow! You\n", "")
    sent = sampling(chat_server.requests()[-1])
    assert (sent["max_tokens"], sent["seed"]) == (2, 11)

    bad = piped(tmp_path, chat_server.base_url, chat_server.token, "hi", "--top-p", "0")
    assert (bad.returncode, bad.stdout) == (1, "")
    assert bad.stderr == "openmaas: top_p must be above 0 and at most 1\n"
