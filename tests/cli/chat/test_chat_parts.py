"""The terminal chat's parts that need no server: personas, transcripts, error lines, the progress bar."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from openmaas.cli.chat.conversation import Conversation, TranscriptError
from openmaas.cli.chat.endpoint import status_line
from openmaas.cli.chat.render import Printer, color_wanted, human_duration, printable, progress_bar
from openmaas.personas import PersonaError, Personas


def test_builtin_personas_and_aliases() -> None:
    personas = Personas.load(None)
    assert {"assistant", "cat", "wukong", "translator", "teacher"} <= {p.name for p in personas.all()}
    wukong = personas.find("孙悟空")
    assert wukong is not None and wukong.name == "wukong" and "Sun Wukong" in wukong.system
    assert personas.find("KITTEN") == personas.find("cat")
    assert personas.find("dog") is None


def test_user_personas_add_and_override(tmp_path: Path) -> None:
    (tmp_path / "personas.toml").write_text(
        '[bajie]\ndescription = "Zhu Bajie"\nsystem = "You are Zhu Bajie (猪八戒)."\naliases = ["八戒"]\n\n'
        '[cat]\nsystem = "You are a grumpy old cat."\n',
        encoding="utf-8",
    )
    personas = Personas.load(tmp_path)
    bajie = personas.find("八戒")
    assert bajie is not None and bajie.system == "You are Zhu Bajie (猪八戒)."
    cat = personas.find("cat")
    assert cat is not None and cat.system == "You are a grumpy old cat."
    assert personas.find("wukong") is not None


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[cat\nsystem = 1", "not valid TOML"),
        ("[cat]\ndescription = 'no system'", "needs a non-empty `system`"),
        ("[cat]\nsystem = 'x'\naliases = 'kitty'", "`aliases` must be a list"),
        ("[cat]\nsystem = 'x'\nprompt = 'typo'", "unknown keys: prompt"),
        ("cat = 'x'", "must be a table"),
    ],
)
def test_bad_user_personas_are_named(tmp_path: Path, text: str, problem: str) -> None:
    (tmp_path / "personas.toml").write_text(text)
    with pytest.raises(PersonaError, match=problem) as error:
        Personas.load(tmp_path)
    assert "personas.toml" in str(error.value)


def test_system_message_replace_reset_and_transcript_round_trip(tmp_path: Path) -> None:
    talk = Conversation(model="m")
    talk.set_system("You are a cat.", "cat")
    talk.add("user", "hi")
    talk.add("assistant", "meow")
    talk.set_system("You are Sun Wukong.", "wukong")
    assert (
        talk.messages[0] == {"role": "system", "content": "You are Sun Wukong."} and len(talk.messages) == 3
    )
    path = tmp_path / "t.json"
    talk.save(path)
    loaded = Conversation.load(path, default_model="other")
    assert (loaded.model, loaded.persona, loaded.messages) == ("m", "wukong", talk.messages)
    talk.reset()
    assert talk.messages == [{"role": "system", "content": "You are Sun Wukong."}]
    talk.set_system(None)
    talk.reset()
    assert talk.messages == []


def test_loading_a_bare_message_list_and_refusing_bad_ones(tmp_path: Path) -> None:
    path = tmp_path / "bare.json"
    path.write_text(json.dumps([{"role": "user", "content": "hi"}]))
    assert Conversation.load(path, "m").messages == [{"role": "user", "content": "hi"}]
    for body, problem in [
        ("not json", "not a JSON transcript"),
        ('{"messages": "x"}', "no `messages` list"),
        ('[{"role": "robot", "content": "x"}]', "message 0 must be"),
        ('[{"role": "user", "content": "a"}, {"role": "system", "content": "b"}]', "only the first"),
    ]:
        path.write_text(body)
        with pytest.raises(TranscriptError, match=problem):
            Conversation.load(path, "m")


def test_status_lines() -> None:
    assert status_line(401, "Invalid token.", {}).startswith("401 unauthorized: Invalid token. (set OPENMAAS")
    assert status_line(429, "Slow down.", {"retry-after": "3700"}) == (
        "429 quota exceeded: Slow down. (try again in 1 h 1 min)"
    )
    with_reset = status_line(429, "Daily limit reached; it resets at 2026-01-02T00:00:00+08:00.", {})
    assert with_reset.endswith("+08:00.") and "try again" not in with_reset
    assert status_line(404, "no such model", {}) == "404 not found: no such model"
    assert status_line(502, "", {}) == "502 error: no details"


def test_progress_bar_and_durations() -> None:
    assert progress_bar(0.5, width=10) == "[#####-----]  50%"
    assert progress_bar(1.7, width=4) == "[####] 100%"
    assert progress_bar(None, width=4) == "[----]  --%"
    assert [human_duration(s) for s in (5, 200, 18_720)] == ["5 s", "3 min 20 s", "5 h 12 min"]


def test_show_messages_plain_and_coloured(monkeypatch: pytest.MonkeyPatch) -> None:
    messages = [{"role": "system", "content": "你是孙悟空"}, {"role": "user", "content": "hi"}]
    out = io.StringIO()
    Printer(out, color=False).show_messages(messages)
    assert out.getvalue().splitlines() == [
        "========== messages start ==========",
        '{"role": "system", "content": "你是孙悟空"}',
        '{"role": "user", "content": "hi"}',
        "========== messages end ==========",
    ]
    coloured = io.StringIO()
    Printer(coloured, color=True).show_messages(messages * 4)
    lines = coloured.getvalue().splitlines()[1:-1]
    assert [line[:5] for line in lines] == [f"\x1b[4{n}m" for n in (1, 2, 3, 4, 5, 6, 1, 2)]
    monkeypatch.setenv("NO_COLOR", "1")
    assert not color_wanted(False, io.StringIO())


def test_answers_cannot_drive_the_terminal() -> None:
    assert printable("a\x1b[2Jb\x07\x9b\r\n\tc 你好") == "a[2Jb\n\tc 你好"
