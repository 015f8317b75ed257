"""The checks every local chat engine shares (`engines/checks.py`) and the one "still loading" error."""

from __future__ import annotations

import pytest

from openmaas.domain.chat import ImagePart
from openmaas.domain.errors import InvalidRequest, ModelNotReady, Overloaded
from openmaas.engines.checks import answer_budget, image_bytes


def test_the_budget_is_the_room_left_or_max_tokens() -> None:
    assert answer_budget("m", 100, 60, None) == 40
    assert answer_budget("m", 100, 60, 10) == 10
    assert answer_budget("m", 100, 60, 500) == 40


def test_a_prompt_that_fills_the_context_is_refused() -> None:
    with pytest.raises(InvalidRequest) as refused:
        answer_budget("m", 100, 100, None)
    assert refused.value.param == "messages" and "100-token context of model 'm'" in refused.value.message


def test_max_tokens_below_one_is_refused() -> None:
    with pytest.raises(InvalidRequest) as refused:
        answer_budget("m", 100, 10, 0)
    assert refused.value.param == "max_tokens"


def test_an_image_without_bytes_is_a_bad_request() -> None:
    assert image_bytes(ImagePart(url="https://example.com/a.png", data=b"png")) == b"png"
    with pytest.raises(InvalidRequest) as refused:
        image_bytes(ImagePart(url="https://example.com/a.png"))
    assert refused.value.status == 400 and refused.value.param == "messages"


def test_still_loading_is_a_503_with_retry_after() -> None:
    error = ModelNotReady("m")
    assert isinstance(error, Overloaded)
    assert error.status == 503 and error.headers == {"Retry-After": "5"}
    assert error.message == "Model 'm' is still loading; retry shortly."
