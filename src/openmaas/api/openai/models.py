"""`GET /v1/models` (no token needed: clients sync the list before a key is set) and `GET /v1/models/{id}`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter

from openmaas.api.deps import ServicesDep
from openmaas.api.errors import JSONBody
from openmaas.api.openai.errors import OpenAIRoute, errors
from openmaas.api.openai.responses import ModelEntry, ModelList
from openmaas.domain.generation import GenerationDefaults
from openmaas.domain.images import ImageProfile
from openmaas.domain.models import ModelSpec
from openmaas.services.admission import CHAT

if TYPE_CHECKING:
    from openmaas.services.container import Services

router = APIRouter(route_class=OpenAIRoute)


def model_entry(
    spec: ModelSpec,
    created: int,
    profile: ImageProfile | None = None,
    generation: GenerationDefaults | None = None,
) -> dict[str, Any]:
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
    if generation is not None:
        # What a request that leaves a setting open gets (an OpenMaaS extension).
        entry["generation_defaults"] = generation.as_dict()
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
    data = [_entry(spec, services) for spec in services.engines.specs()]
    return JSONBody({"object": "list", "data": data})


@router.get("/v1/models/{model_id:path}", responses={200: {"model": ModelEntry}, **errors(404)})
async def get_model(model_id: str, services: ServicesDep) -> JSONBody:
    return JSONBody(_entry(services.engines.spec(model_id), services))


def _entry(spec: ModelSpec, services: Services) -> dict[str, Any]:
    profile = services.images.profile(spec) if spec.task == "image" else None
    generation = services.chat.generation_defaults(spec) if spec.task in CHAT.tasks else None
    return model_entry(spec, services.started_at, profile, generation)
