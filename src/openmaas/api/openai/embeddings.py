"""`POST /v1/embeddings` (OpenAI-compatible): parse, run through the embeddings service, answer.

`input` is a string, a list of strings, a list of token ids (one input) or a list of token-id lists;
empty inputs and more than `MAX_INPUTS` of them are refused with a 400 that says which. The answer is
OpenAI's `{"object": "list", "data": [{"object": "embedding", "index", "embedding"}], "model", "usage"}`
where `embedding` is a list of floats, or with `encoding_format: "base64"` the base64 of the vector's
little-endian float32 bytes (the OpenAI SDK asks for base64 by default and decodes it itself).
"""

from __future__ import annotations

import base64
import logging
from typing import Any, Literal

import orjson
from fastapi import APIRouter, Request
from pydantic import Field

from openmaas.api.deps import CurrentCaller, ServicesDep, note_model
from openmaas.api.errors import JSONBody
from openmaas.api.openai.errors import OpenAIRoute, errors
from openmaas.api.openai.responses import EmbeddingList
from openmaas.api.openapi import MODEL_CALL
from openmaas.api.wire import Lenient, to_internal
from openmaas.domain.embeddings import EmbeddingInput, EmbeddingRequest, EmbeddingResult
from openmaas.domain.errors import InvalidRequest

log = logging.getLogger(__name__)
router = APIRouter(route_class=OpenAIRoute)

MAX_INPUTS = 2048  # OpenAI's limit on inputs per request
_SHAPE = "input must be a string, a list of strings, a list of token ids, or a list of token-id lists"


class EmbeddingsRequest(Lenient):
    model: str = Field(min_length=1)
    input: Any
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(default=None, ge=1)
    user: str | None = None

    def to_internal(self) -> EmbeddingRequest:
        if self.model_extra:
            log.debug("ignored unknown request fields", extra={"fields": sorted(self.model_extra)})
        return EmbeddingRequest(model=self.model, inputs=parse_input(self.input), dimensions=self.dimensions)


def parse_input(value: Any) -> tuple[EmbeddingInput, ...]:
    if isinstance(value, str):
        items: list[Any] = [value]
    elif isinstance(value, list) and value and all(_is_token(item) for item in value):
        items = [value]
    elif isinstance(value, list):
        items = value
    else:
        raise InvalidRequest(_SHAPE, param="input")
    if not items:
        raise InvalidRequest("input is an empty list; send at least one input.", param="input")
    if len(items) > MAX_INPUTS:
        raise InvalidRequest(
            f"input has {len(items)} items; at most {MAX_INPUTS} are allowed per request.", param="input"
        )
    return tuple(_item(index, item) for index, item in enumerate(items))


def _item(index: int, item: Any) -> EmbeddingInput:
    if isinstance(item, str):
        if not item:
            raise InvalidRequest(f"input[{index}] is an empty string.", param="input")
        return item
    if not isinstance(item, list) or not all(_is_token(token) for token in item):
        raise InvalidRequest(f"input[{index}]: {_SHAPE}.", param="input")
    if not item:
        raise InvalidRequest(f"input[{index}] is an empty list of token ids.", param="input")
    if min(item) < 0:
        raise InvalidRequest(f"input[{index}] holds a negative token id.", param="input")
    return tuple(item)


def _is_token(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class VectorsBody(JSONBody):
    """JSON with numpy float32 vectors written by orjson directly (shortest float32 digits)."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)


def embeddings_body(result: EmbeddingResult, *, model: str, encoding: str) -> dict[str, Any]:
    vectors = result.vectors
    if encoding == "base64":
        little_endian = vectors.astype("<f4", copy=False)
        encoded: list[Any] = [base64.b64encode(row.tobytes()).decode("ascii") for row in little_endian]
    else:
        encoded = list(vectors)
    return {
        "object": "list",
        "data": [
            {"object": "embedding", "index": index, "embedding": vector}
            for index, vector in enumerate(encoded)
        ],
        "model": model,
        "usage": {"prompt_tokens": result.prompt_tokens, "total_tokens": result.prompt_tokens},
    }


@router.post("/v1/embeddings", responses={200: {"model": EmbeddingList}, **errors(*MODEL_CALL)})
async def create_embeddings(
    body: EmbeddingsRequest, caller: CurrentCaller, services: ServicesDep, request: Request
) -> VectorsBody:
    note_model(request, body.model)
    embedded = await services.embeddings.embed(caller, to_internal(body))
    content = embeddings_body(embedded.result, model=body.model, encoding=body.encoding_format)
    return VectorsBody(content, headers=embedded.headers)
