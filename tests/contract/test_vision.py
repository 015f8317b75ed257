"""Vision chat through the real `openai` and `anthropic` SDKs against a real `openmaas serve` process on
the tiny random-weight Qwen2-VL: images as data URIs / base64 and as http URLs served on 127.0.0.1, the
answer depending on the picture, the refusals in each dialect's error shape, and the quota."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.contract.conftest import new_token
from tests.pictures import data_uri, noise, solid
from tests.servers import ServerProcess, server_process, thread_server

VISION = "test/tiny-vl"
TEXT_ONLY = "test/text-only"
QUESTION = "What is in the picture?"
NOISE = noise(1)
RED = solid((255, 0, 0))
TOO_BIG = noise(2, size=(200, 200))  # ~120 kB, over the server's 100 kB
TOO_WIDE = solid((0, 0, 0), size=(600, 500))  # 300,000 pixels, over the server's 250,000


class PictureSite:
    """Serves pictures on 127.0.0.1 and counts the requests it gets."""

    def __init__(self) -> None:
        self.hits: dict[str, int] = {}
        pictures = {"/noise.png": NOISE, "/red.png": RED}

        async def picture(request: Request) -> Response:
            self.hits[request.url.path] = self.hits.get(request.url.path, 0) + 1
            if request.url.path == "/page.html":
                return Response("<html>not a picture</html>", media_type="text/html")
            if request.url.path not in pictures:
                return Response("no such picture", status_code=404)
            return Response(pictures[request.url.path], media_type="image/png")

        self.app = Starlette(routes=[Route("/{name}", picture)])
        self.base_url = ""

    def url(self, name: str) -> str:
        return f"{self.base_url}/{name}"


@pytest.fixture(scope="module")
def site() -> Iterator[PictureSite]:
    pictures = PictureSite()
    with thread_server(pictures.app) as base_url:
        pictures.base_url = base_url
        yield pictures


@pytest.fixture(scope="module")
def vision_server(
    tiny_vision_model: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("vision-server")
    models = root / "models.toml"
    models.write_text(
        f"""
include_builtin = false

[[models]]
id = "{VISION}"
task = "vision"
engine = "transformers"
weights = "{tiny_vision_model}"
[models.options]
dtype = "float32"
max_batch_size = 4
[models.sampling_defaults]
temperature = 0.0

[[models]]
id = "{TEXT_ONLY}"
task = "chat"
engine = "tests.fakes:ScriptedChatEngine"
"""
    )
    settings = {
        "OPENMAAS_FETCH_ALLOW_NETWORKS": '["127.0.0.1/32"]',
        "OPENMAAS_VISION_MAX_IMAGES": "3",
        "OPENMAAS_FETCH_MAX_BYTES": "100000",
        "OPENMAAS_FETCH_MAX_PIXELS": "250000",
    }
    with server_process(root / "data", models, env=settings) as running:
        yield running


@pytest.fixture(scope="module")
def gpt(vision_server: ServerProcess) -> openai.OpenAI:
    token = new_token(vision_server, "looker")
    return openai.OpenAI(base_url=f"{vision_server.base_url}/v1", api_key=token, max_retries=0)


@pytest.fixture(scope="module")
def claude(vision_server: ServerProcess, gpt: openai.OpenAI) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=vision_server.base_url, api_key=gpt.api_key, max_retries=0)


def openai_image(url: str) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": url}}


def base64_block(data: bytes) -> dict[str, Any]:
    return {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": b64(data)}}


def url_block(url: str) -> dict[str, Any]:
    return {"type": "image", "source": {"type": "url", "url": url}}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def ask_gpt(client: openai.OpenAI, *images: dict[str, Any], model: str = VISION, **extra: Any) -> Any:
    content: Any = [*images, {"type": "text", "text": QUESTION}]
    return client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": content}], max_tokens=12, **extra
    )


def ask_claude(client: anthropic.Anthropic, *blocks: dict[str, Any], model: str = VISION) -> Any:
    content: Any = [*blocks, {"type": "text", "text": QUESTION}]
    return client.messages.create(model=model, messages=[{"role": "user", "content": content}], max_tokens=12)


# ---- answers ---------------------------------------------------------------------------------------


def test_openai_image_url_as_data_uri_and_as_http_url(gpt: openai.OpenAI, site: PictureSite) -> None:
    by_data = ask_gpt(gpt, openai_image(data_uri(NOISE)))
    by_url = ask_gpt(gpt, openai_image(site.url("noise.png")))
    red = ask_gpt(gpt, openai_image(data_uri(RED)))

    assert by_data.choices[0].message.content == by_url.choices[0].message.content  # the same pixels
    assert by_data.choices[0].message.content != red.choices[0].message.content  # other pixels
    assert by_data.choices[0].finish_reason == "length" and by_data.usage.completion_tokens == 12
    assert by_data.usage.prompt_tokens == by_url.usage.prompt_tokens > 20  # the image's tokens count
    assert site.hits["/noise.png"] >= 1


def test_openai_streams_an_answer_about_an_image(gpt: openai.OpenAI) -> None:
    whole = ask_gpt(gpt, openai_image(data_uri(NOISE)))
    chunks = list(
        ask_gpt(gpt, openai_image(data_uri(NOISE)), stream=True, stream_options={"include_usage": True})
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    assert chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens == whole.usage.prompt_tokens


def test_anthropic_base64_and_url_sources(
    claude: anthropic.Anthropic, gpt: openai.OpenAI, site: PictureSite
) -> None:
    by_base64 = ask_claude(claude, base64_block(NOISE))
    by_url = ask_claude(claude, url_block(site.url("noise.png")))
    red = ask_claude(claude, base64_block(RED))
    openai_answer = ask_gpt(gpt, openai_image(data_uri(NOISE))).choices[0].message.content

    assert by_base64.content[0].text == by_url.content[0].text == openai_answer  # one prompt, two dialects
    assert red.content[0].text != by_base64.content[0].text
    assert by_base64.stop_reason == "max_tokens" and by_base64.usage.input_tokens > 20


def test_anthropic_stream_and_count_tokens_with_an_image(claude: anthropic.Anthropic) -> None:
    messages: Any = [{"role": "user", "content": [base64_block(NOISE), {"type": "text", "text": QUESTION}]}]
    with claude.messages.stream(model=VISION, max_tokens=12, messages=messages) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    counted = claude.messages.count_tokens(model=VISION, messages=messages)

    assert text == ask_claude(claude, base64_block(NOISE)).content[0].text
    assert counted.input_tokens == final.usage.input_tokens > 20


# ---- refusals --------------------------------------------------------------------------------------


def openai_refusal(call: Callable[[], Any]) -> tuple[str, str | None]:
    with pytest.raises(openai.BadRequestError) as refused:
        call()
    error: Any = refused.value.body
    assert refused.value.status_code == 400 and error["type"] == "invalid_request_error"
    return str(error["message"]), error["param"]


def anthropic_refusal(call: Callable[[], Any]) -> str:
    with pytest.raises(anthropic.BadRequestError) as refused:
        call()
    body: Any = refused.value.body
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
    return str(body["error"]["message"])


def remaining(client: openai.OpenAI) -> int:
    response = client.chat.completions.with_raw_response.create(
        model=VISION, messages=[{"role": "user", "content": "hi"}], max_tokens=1
    )
    return int(response.headers["x-ratelimit-remaining-requests"])


REFUSALS = [
    # (what, the OpenAI image URL, the Anthropic block (or its url source), words of the message)
    ("too big", data_uri(TOO_BIG), base64_block(TOO_BIG), "larger than 100000 bytes"),
    ("too many pixels", data_uri(TOO_WIDE), base64_block(TOO_WIDE), "more than the limit of 250000"),
    ("not an image", data_uri(b"hello, world"), base64_block(b"hello, world"), "not a valid image"),
    ("not base64", "data:image/png;base64,%%%", None, "not valid base64"),
    ("a web page", "SITE/page.html", "SITE/page.html", "not a valid image"),
    ("a missing picture", "SITE/gone.png", "SITE/gone.png", "answered HTTP 404"),
    ("loopback outside the allow-list", "LOOPBACK/red.png", "LOOPBACK/red.png", "a loopback address"),
    ("a file URL", "file:///etc/passwd", "file:///etc/passwd", "only http(s) URLs and data: URIs"),
]


@pytest.mark.parametrize(("what", "url", "block", "words"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_refused_images_name_the_field_and_the_reason(
    gpt: openai.OpenAI,
    claude: anthropic.Anthropic,
    site: PictureSite,
    what: str,
    url: str,
    block: Any,
    words: str,
) -> None:
    def place(text: str) -> str:
        loopback = site.base_url.replace("127.0.0.1", "127.0.0.2")  # loopback, but not 127.0.0.1/32
        return text.replace("SITE", site.base_url).replace("LOOPBACK", loopback)

    message, openai_param = openai_refusal(
        lambda: ask_gpt(gpt, openai_image(data_uri(RED)), openai_image(place(url)))
    )
    assert words in message
    assert openai_param == "messages.0.content.1.image_url.url"
    assert message.startswith("messages.0.content.1.image_url.url: ")
    if block is not None:
        anthropic_block = url_block(place(block)) if isinstance(block, str) else block
        claude_message = anthropic_refusal(lambda: ask_claude(claude, anthropic_block))
        assert words in claude_message and claude_message.startswith("messages.0.content.0.source")


def test_images_to_a_text_model_are_refused_naming_it(
    gpt: openai.OpenAI, claude: anthropic.Anthropic, site: PictureSite
) -> None:
    hits = dict(site.hits)
    message, param = openai_refusal(lambda: ask_gpt(gpt, openai_image(site.url("red.png")), model=TEXT_ONLY))
    assert TEXT_ONLY in message and "text only" in message and param == "messages"
    claude_message = anthropic_refusal(
        lambda: ask_claude(claude, url_block(site.url("red.png")), model=TEXT_ONLY)
    )
    assert TEXT_ONLY in claude_message
    assert site.hits == hits  # refused before anything was fetched


def test_too_many_images_are_refused(gpt: openai.OpenAI, claude: anthropic.Anthropic) -> None:
    message, param = openai_refusal(lambda: ask_gpt(gpt, *[openai_image(data_uri(RED))] * 4))
    assert "4 images" in message and "at most 3" in message and param == "messages"
    assert "at most 3" in anthropic_refusal(lambda: ask_claude(claude, *[base64_block(RED)] * 4))
    assert ask_gpt(gpt, *[openai_image(data_uri(RED))] * 3).choices[0].message.content


def test_a_call_with_images_counts_once_and_refusals_do_not(
    vision_server: ServerProcess, site: PictureSite
) -> None:
    client = openai.OpenAI(
        base_url=f"{vision_server.base_url}/v1", api_key=new_token(vision_server, "counted"), max_retries=0
    )
    before = remaining(client)
    ask_gpt(client, openai_image(site.url("noise.png")))
    for bad in (data_uri(TOO_BIG), site.url("gone.png"), data_uri(b"nope")):
        openai_refusal(lambda bad=bad: ask_gpt(client, openai_image(bad)))  # type: ignore[misc]
    openai_refusal(lambda: ask_gpt(client, openai_image(data_uri(RED)), model=TEXT_ONLY))
    assert remaining(client) == before - 2  # the call with the image, and this one
