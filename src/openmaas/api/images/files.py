"""`GET /v1/files/{key}?expires=…&signature=…`: output images behind signed URLs, no token needed."""

from __future__ import annotations

from fastapi import APIRouter, Response

from openmaas.api.deps import ServicesDep
from openmaas.api.openai.errors import OpenAIRoute, errors

router = APIRouter(route_class=OpenAIRoute)
PNG = {
    200: {"content": {"image/png": {"schema": {"type": "string", "format": "binary"}}}},
    **errors(403, 404),
}


@router.head("/v1/files/{key:path}", response_class=Response, responses=PNG, operation_id="head_file")
@router.get("/v1/files/{key:path}", response_class=Response, responses=PNG, operation_id="get_file")
async def get_file(
    key: str, services: ServicesDep, expires: str | None = None, signature: str | None = None
) -> Response:
    image = await services.images.output_image(key, expires, signature)
    return Response(image, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})
