"""`GET /v1/models` (no token needed: clients sync the list before a key is set) and `GET /v1/models/{id}`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from openmaas.api.deps import ServicesDep
from openmaas.api.errors import JSONBody, OpenAIRoute
from openmaas.api.openai.responses import ModelEntry, ModelList
from openmaas.api.openapi import errors
from openmaas.domain.images import ImageProfile
from openmaas.domain.models import ModelSpec

router = APIRouter(route_class=OpenAIRoute)


def model_entry(spec: ModelSpec, created: int, profile: ImageProfile | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": spec.id,
        "object": "model",
        "created": created,
        "owned_by": spec.owner,
        "task": spec.task,
        "capabilities": list(spec.all_capabilities),
    }
    if spec.context_length is not None:
        entry["context_length"] = spec.context_length
    if spec.description:
        entry["description"] = spec.description
    if profile is not None:
        entry["image"] = image_entry(profile)
    return entry


def image_entry(profile: ImageProfile) -> dict[str, Any]:
    """What an image model accepts and its defaults (an OpenMaaS extension, for forms)."""
    return {
        "min_size": str(profile.min_size),
        "max_size": str(profile.max_size),
        "size_multiple": profile.size_multiple,
        "default_size": str(profile.default_size),
        "default_steps": profile.default_steps,
        "default_guidance": profile.default_guidance,
        "edit": profile.can_edit,
        "loras": sorted(profile.loras),
    }


@router.get("/v1/models", responses={200: {"model": ModelList}, **errors()})
async def list_models(services: ServicesDep) -> JSONBody:
    created = services.started_at
    images = services.images
    data = [
        model_entry(s, created, images.profile(s) if s.task == "image" else None)
        for s in services.engines.specs()
    ]
    return JSONBody({"object": "list", "data": data})


@router.get("/v1/models/{model_id:path}", responses={200: {"model": ModelEntry}, **errors(404)})
async def get_model(model_id: str, services: ServicesDep) -> JSONBody:
    spec = services.engines.spec(model_id)
    profile = services.images.profile(spec) if spec.task == "image" else None
    return JSONBody(model_entry(spec, services.started_at, profile))
