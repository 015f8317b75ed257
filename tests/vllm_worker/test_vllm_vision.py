"""A vision model on vLLM: images reach the model as pixels (different images, different answers; the
same image, the same answer), placeholders expand to the image's tokens, and bad input is a 400.

Most requests go straight to the engine worker's internal API with the image bytes, as the API tier sends
them once it has fetched a client's image."""

from __future__ import annotations

import io
from typing import Any

import orjson
from PIL import Image

from openmaas.domain.chat import ChatRequest, ImagePart, Message, Sampling, TextPart
from tests.vllm_worker.conftest import MODEL, VISION_MODEL, VLLMCluster


def png(color: str, size: tuple[int, int] = (48, 32)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG")
    return buffer.getvalue()


def look(*images: bytes | None, model: str = VISION_MODEL) -> ChatRequest:
    parts: tuple[Any, ...] = (TextPart("What is in the picture? "),)
    parts += tuple(ImagePart("https://example.com/picture.png", data) for data in images)
    return ChatRequest(model, (Message("user", parts),), Sampling(temperature=0.0, max_tokens=12))


def answer(cluster: VLLMCluster, request: ChatRequest) -> tuple[str, list[Any]]:
    response = cluster.worker_chat(request)
    assert response.status_code == 200, response.text
    events = [orjson.loads(line) for line in response.content.splitlines()]
    return "".join(event[1] for event in events if event[0] == "t"), events[-2:]


def test_the_model_sees_the_image(vllm_cluster: VLLMCluster) -> None:
    red, (finish, usage) = answer(vllm_cluster, look(png("red")))
    assert finish == ["f", "length", None] and usage[2] == 12
    assert answer(vllm_cluster, look(png("red")))[0] == red
    assert answer(vllm_cluster, look(png("blue")))[0] != red
    assert answer(vllm_cluster, look(png("red", (240, 160))))[0] == red  # resized to the encoder's input
    _, (_, text_usage) = answer(vllm_cluster, look())
    # Each image's placeholder became the encoder's 4 tokens between Idefics3's 3 markers (+6 in all).
    assert usage[1] == text_usage[1] + 1 + 6
    _, (_, two_usage) = answer(vllm_cluster, look(png("red"), png("blue")))
    assert two_usage[1] == text_usage[1] + 2 * 7


def test_bad_images_are_refused(vllm_cluster: VLLMCluster) -> None:
    broken = vllm_cluster.worker_chat(look(b"not an image at all"))
    assert broken.status_code == 400 and "could not be decoded" in broken.json()["error"]["message"]
    unfetched = vllm_cluster.worker_chat(look(None))
    assert unfetched.status_code == 400 and "did not fetch it" in unfetched.json()["error"]["message"]
    to_text_model = vllm_cluster.worker_chat(look(png("red"), model=MODEL))
    assert (
        to_text_model.status_code == 400 and "accepts text only" in to_text_model.json()["error"]["message"]
    )


def test_through_the_api_tier(vllm_cluster: VLLMCluster) -> None:
    """A client's image goes through the API tier (fetched, checked, counted) to the vLLM worker."""
    import base64

    from openai import OpenAI

    client = OpenAI(base_url=f"{vllm_cluster.api.base_url}/v1", api_key=vllm_cluster.token, max_retries=0)

    def ask(color: str) -> str:
        uri = "data:image/png;base64," + base64.b64encode(png(color)).decode()
        completion = client.chat.completions.create(
            model=VISION_MODEL,
            max_tokens=12,
            temperature=0,
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is in the picture? "},
                        {"type": "image_url", "image_url": {"url": uri}},
                    ],
                }
            ],
        )
        assert completion.choices[0].finish_reason == "length"
        return completion.choices[0].message.content or ""

    red = ask("red")
    assert red == ask("red") and red != ask("blue")
