"""`GET /v1/files/{key}?expires=…&signature=…`: output images behind signed URLs, no token needed."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse

from openmaas.api.deps import ServicesDep
from openmaas.api.errors import OpenAIRoute

router = APIRouter(route_class=OpenAIRoute)


@router.api_route("/v1/files/{key:path}", methods=["GET", "HEAD"])
async def get_file(
    key: str, services: ServicesDep, expires: str | None = None, signature: str | None = None
) -> FileResponse:
    path = services.images.output_file(key, expires, signature)
    return FileResponse(path, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})
