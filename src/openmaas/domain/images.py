"""Text-to-image and image editing: the validated request, the job an engine runs, and each model's limits.

The flow: the wire schema parses the body into an `ImageRequest` (checking the rules that hold for every
model, SPEC 2.5); the service checks it against the model's `ImageProfile` (size range, edit support,
LoRAs), fetches the image to edit, fills in the model's defaults and a seed, and stores the resulting
`ImageJob` in a task. An engine turns an `ImageJob` into PNG bytes, reporting progress per denoising step.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from openmaas.domain.errors import InvalidRequest
from openmaas.domain.models import ModelSpec

MAX_PROMPT_CHARS = 1999
MAX_SEED = 2**31 - 1
STEPS_RANGE = (1, 100)
GUIDANCE_RANGE = (1.5, 20.0)
MAX_IMAGES = 4
MAX_LORAS = 6
_SIZE = re.compile(r"\s*([0-9]{1,5})\s*[xX*×]\s*([0-9]{1,5})\s*")

ProgressCallback = Callable[[int, int], None]
"""Called by an engine after each denoising step with (steps done, total steps), from the engine's
worker thread. It raises `JobCancelled` when the job should stop; the engine lets that propagate."""


class JobCancelled(Exception):
    """Raised through an engine's progress callback to stop a job (cancelled, or the server stops)."""


@dataclass(frozen=True, slots=True)
class Size:
    width: int
    height: int

    def __str__(self) -> str:
        return f"{self.width}x{self.height}"


def parse_size(text: str, *, param: str = "size") -> Size:
    match = _SIZE.fullmatch(text)
    if match is None:
        raise InvalidRequest(
            f"{param} must look like '1024x1024' (width x height), got {text!r}.", param=param
        )
    return Size(int(match.group(1)), int(match.group(2)))


@dataclass(frozen=True, slots=True)
class LoraWeight:
    id: str
    weight: float


@dataclass(frozen=True, slots=True)
class ImageRequest:
    """A request that passed the model-independent rules; None means "the model's default"."""

    model: str
    prompt: str
    negative_prompt: str | None = None
    size: Size | None = None
    seed: int | None = None
    steps: int | None = None
    guidance: float | None = None
    image_url: str | None = None
    loras: tuple[LoraWeight, ...] = ()
    n: int = 1


def check_request(request: ImageRequest) -> None:
    """The rules of SPEC 2.5 that hold for every model; each failure is a 400 naming its field."""
    if not request.prompt.strip():
        raise InvalidRequest("prompt must not be empty.", param="prompt")
    if len(request.prompt) > MAX_PROMPT_CHARS:
        raise InvalidRequest(
            f"prompt must be under 2000 characters (got {len(request.prompt)}).", param="prompt"
        )
    if request.negative_prompt is not None and len(request.negative_prompt) > MAX_PROMPT_CHARS:
        raise InvalidRequest(
            f"negative_prompt must be under 2000 characters (got {len(request.negative_prompt)}).",
            param="negative_prompt",
        )
    if request.seed is not None and not 0 <= request.seed <= MAX_SEED:
        raise InvalidRequest(f"seed must be between 0 and {MAX_SEED} (got {request.seed}).", param="seed")
    if request.steps is not None and not STEPS_RANGE[0] <= request.steps <= STEPS_RANGE[1]:
        raise InvalidRequest(f"steps must be between 1 and 100 (got {request.steps}).", param="steps")
    if request.guidance is not None and not (
        math.isfinite(request.guidance) and GUIDANCE_RANGE[0] <= request.guidance <= GUIDANCE_RANGE[1]
    ):
        raise InvalidRequest(
            f"guidance must be between 1.5 and 20 (got {request.guidance}).", param="guidance"
        )
    if not 1 <= request.n <= MAX_IMAGES:
        raise InvalidRequest(f"n must be between 1 and {MAX_IMAGES} (got {request.n}).", param="n")
    _check_loras(request.loras)


def _check_loras(loras: tuple[LoraWeight, ...]) -> None:
    if len(loras) > MAX_LORAS:
        raise InvalidRequest(f"loras: at most {MAX_LORAS} LoRAs (got {len(loras)}).", param="loras")
    for lora in loras:
        if not lora.id:
            raise InvalidRequest("loras: a LoRA id must not be empty.", param="loras")
        if not (math.isfinite(lora.weight) and 0 < lora.weight <= 1):
            raise InvalidRequest(
                f"loras: the weight of {lora.id!r} must be above 0 and at most 1 (got {lora.weight}).",
                param="loras",
            )
    total = sum(lora.weight for lora in loras)
    if loras and abs(total - 1.0) > 1e-6:
        raise InvalidRequest(f"loras: the weights must sum to 1.0 (they sum to {total:g}).", param="loras")


def loras_from_wire(value: object) -> tuple[LoraWeight, ...]:
    """`"<id>"` is one LoRA at weight 1.0; `{"<id1>": 0.6, "<id2>": 0.4}` several."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (LoraWeight(value, 1.0),)
    if isinstance(value, Mapping):
        loras = []
        for key, weight in value.items():
            if isinstance(weight, bool) or not isinstance(weight, int | float):
                raise InvalidRequest(f"loras: the weight of {key!r} must be a number.", param="loras")
            loras.append(LoraWeight(str(key), float(weight)))
        return tuple(loras)
    raise InvalidRequest(
        'loras must be a LoRA id ("<id>") or an object of LoRA ids and weights ({"<id>": 0.6, ...}).',
        param="loras",
    )


@dataclass(frozen=True, slots=True)
class ImageJob:
    """What an engine runs: every parameter decided (defaults applied, seed drawn).

    `init_image` is the encoded image to edit (already fetched and checked), or None for text-to-image.
    Image i of the job uses seed `seed + i`, so the same job gives the same bytes.
    """

    model: str
    prompt: str
    negative_prompt: str | None
    width: int
    height: int
    seed: int
    steps: int
    guidance: float
    n: int
    loras: tuple[LoraWeight, ...] = ()
    init_image: bytes | None = None

    def to_params(self) -> dict[str, Any]:
        """JSON-safe parameters to store with the task (the image to edit is stored apart)."""
        params = asdict(self)
        params.pop("init_image")
        params["loras"] = [[lora.id, lora.weight] for lora in self.loras]
        return params

    @classmethod
    def from_params(cls, params: Mapping[str, Any], init_image: bytes | None = None) -> ImageJob:
        values = dict(params)
        values["loras"] = tuple(LoraWeight(str(i), float(w)) for i, w in values.get("loras", ()))
        return cls(**values, init_image=init_image)


@dataclass(frozen=True, slots=True)
class ImageProfile:
    """What an image model accepts, from its registry entry.

    `capabilities`: `edit` (takes `image_url`), `loras` (takes the LoRAs of `options.loras`), and
    `size:WxH-WxH` (the size range; default 64x64-2048x2048). `options`: `default_size`,
    `default_steps`, `default_guidance`, `size_multiple` (width and height must be multiples of it;
    default 8), `loras` (LoRA id -> where its weights are).
    """

    model: str
    min_size: Size
    max_size: Size
    size_multiple: int
    default_size: Size
    default_steps: int
    default_guidance: float
    can_edit: bool
    loras: frozenset[str]

    @classmethod
    def from_spec(cls, spec: ModelSpec) -> ImageProfile:
        """Raises ValueError naming the model when its entry is inconsistent (checked at start-up)."""
        try:
            return cls._from_spec(spec)
        except (InvalidRequest, ValueError, TypeError) as exc:
            detail = exc.message if isinstance(exc, InvalidRequest) else str(exc)
            raise ValueError(f"image model {spec.id}: {detail}") from exc

    @classmethod
    def _from_spec(cls, spec: ModelSpec) -> ImageProfile:
        ranges = [c.removeprefix("size:") for c in spec.capabilities if c.startswith("size:")]
        low, _, high = (ranges[0] if ranges else "64x64-2048x2048").partition("-")
        min_size, max_size = parse_size(low, param="size:"), parse_size(high, param="size:")
        options = spec.options
        loras = options.get("loras", {})
        if not isinstance(loras, dict):
            raise ValueError("options.loras must be a table of LoRA id = weights location")
        if bool(loras) != ("loras" in spec.capabilities):
            raise ValueError("declare the capability 'loras' exactly when options.loras lists LoRAs")
        profile = cls(
            model=spec.id,
            min_size=min_size,
            max_size=max_size,
            size_multiple=int(options.get("size_multiple", 8)),
            default_size=parse_size(str(options.get("default_size", "1024x1024")), param="default_size"),
            default_steps=int(options.get("default_steps", 30)),
            default_guidance=float(options.get("default_guidance", 7.5)),
            can_edit="edit" in spec.capabilities,
            loras=frozenset(loras),
        )
        profile.check_size(profile.default_size, param="default_size")
        return profile

    def check_size(self, size: Size, *, param: str = "size") -> None:
        low, high = self.min_size, self.max_size
        if not (low.width <= size.width <= high.width and low.height <= size.height <= high.height):
            raise InvalidRequest(
                f"{param} {size} is outside the range of {self.model}: {low} to {high}.", param=param
            )
        if size.width % self.size_multiple or size.height % self.size_multiple:
            raise InvalidRequest(
                f"{param} {size}: width and height must be multiples of {self.size_multiple} for "
                f"{self.model}.",
                param=param,
            )

    def check(self, request: ImageRequest) -> None:
        """The rules that depend on the model: size range, edit support, known LoRAs."""
        if request.size is not None:
            self.check_size(request.size)
        if request.image_url is not None and not self.can_edit:
            raise InvalidRequest(
                f"image_url: the model {self.model} cannot edit images; omit image_url.", param="image_url"
            )
        for lora in request.loras:
            if lora.id not in self.loras:
                known = ", ".join(sorted(self.loras)) or "none"
                raise InvalidRequest(
                    f"loras: unknown LoRA {lora.id!r} for {self.model} (available: {known}).", param="loras"
                )

    def fit(self, width: int, height: int) -> Size:
        """The size for editing an image of `width` x `height` when no size is given: the image's own
        size, scaled into the model's range and rounded down to the size multiple."""
        scale = min(1.0, self.max_size.width / width, self.max_size.height / height)
        scale = max(scale, self.min_size.width / width, self.min_size.height / height)
        step = self.size_multiple

        def snap(value: float, low: int, high: int) -> int:
            return min(high, max(low, int(value) // step * step))

        return Size(
            snap(width * scale, self.min_size.width, self.max_size.width),
            snap(height * scale, self.min_size.height, self.max_size.height),
        )
