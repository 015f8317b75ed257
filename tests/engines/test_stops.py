"""The engine-neutral stop-string matcher."""

from __future__ import annotations

import pytest

from openmaas.engines.stops import StopMatcher, StopResult


def run(stops: list[str], chunks: list[str]) -> tuple[str, str | None]:
    matcher = StopMatcher(stops)
    emitted = []
    for chunk in chunks:
        result = matcher.feed(chunk)
        emitted.append(result.text)
        if result.stop is not None:
            return "".join(emitted), result.stop
    return "".join(emitted) + matcher.flush(), None


def test_no_stops_passes_text_through() -> None:
    matcher = StopMatcher([])
    assert not matcher.active
    assert matcher.feed("abc") == StopResult("abc")
    assert matcher.flush() == ""


def test_stop_inside_one_chunk() -> None:
    assert run(["END"], ["hello END world"]) == ("hello ", "END")


def test_stop_split_across_chunks_is_never_emitted() -> None:
    matcher = StopMatcher(["###"])
    assert matcher.feed("ok #") == StopResult("ok ")
    assert matcher.feed("#") == StopResult("")
    assert matcher.feed("# more") == StopResult("", "###")
    assert matcher.stopped == "###"
    assert matcher.flush() == ""


def test_held_text_is_released_when_it_cannot_match() -> None:
    matcher = StopMatcher(["###"])
    assert matcher.feed("a ##") == StopResult("a ")
    assert matcher.feed("b") == StopResult("##b")


def test_flush_releases_a_partial_match_at_the_end() -> None:
    assert run(["</answer>"], ["the end </ans"]) == ("the end </ans", None)


@pytest.mark.parametrize(
    ("chunks", "expected"),
    [
        (["x", "y", "S", "T", "O", "P", "z"], ("xy", "STOP")),
        (["xyST", "OPz"], ("xy", "STOP")),
        (["xy", "STOP"], ("xy", "STOP")),
        (["ST", "OX", "STOP"], ("STOX", "STOP")),
    ],
)
def test_any_split_gives_the_same_result(chunks: list[str], expected: tuple[str, str]) -> None:
    assert run(["STOP"], chunks) == expected


def test_earliest_stop_wins_when_several_complete() -> None:
    assert run(["world", "lo w"], ["hello world"]) == ("hel", "lo w")


def test_overlapping_prefixes_and_multibyte_text() -> None:
    assert run(["。\n\n", "ab"], ["你好", "。", "\n", "\n后面"]) == ("你好", "。\n\n")
    assert run(["aab"], ["a", "a", "a", "b"]) == ("a", "aab")


def test_feeding_after_a_stop_emits_nothing() -> None:
    matcher = StopMatcher(["x"])
    assert matcher.feed("ax") == StopResult("a", "x")
    assert matcher.feed("more") == StopResult("", "x")


def test_empty_and_duplicate_stops_are_ignored() -> None:
    matcher = StopMatcher(["", "z", "z"])
    assert matcher.feed("abc") == StopResult("abc")
    assert matcher.feed("z") == StopResult("", "z")
