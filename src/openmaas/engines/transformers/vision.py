"""Image-text-to-text models in the transformers engine: their processor, and prompts with images.

A registry entry with `task = "vision"` loads its model with `AutoModelForImageTextToText` and its
processor (the tokenizer, the image processor and the chat template of the model folder). Every request
to such a model is rendered through the processor's chat template, with messages in the shape Hugging
Face multimodal templates expect: `content` a list of `{"type": "text", "text": ...}` and
`{"type": "image", "image": <PIL image>}` parts.

- A request without images renders to token ids only (`render`), and is batched like any text request.
- A request with images (`prepare`, blocking: run it in a worker thread) decodes the fetched bytes
  (EXIF orientation applied, the first frame of an animation, RGB), and runs the processor: the image
  placeholders of the template are expanded to as many tokens as the model's vision encoder makes, and
  the pixel inputs come out under the names the model's `forward` takes (`pixel_values`,
  `image_grid_thw`, `image_sizes`, `pixel_attention_mask`, ...). Those go to one prefill of their own.

Positions: most architectures number the prompt 0..L-1. Qwen2-VL and its successors use M-RoPE: image
tokens get 3-D (time, height, width) positions from `get_rope_index`, and text after the image continues
from the largest of them, so the prompt's next position is not its length. The prompt records that next
position; decoding then goes on with ordinary 1-D positions, which those models read as equal in all three
dimensions (exactly what text tokens have in M-RoPE).

Control tokens typed in message text (an `<|image_pad|>` in a user's words, say) are encoded as plain
text and never count as image placeholders (`sanitize_control_tokens`).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

import torch
from jinja2 import TemplateError
from PIL import Image, ImageOps

from openmaas.domain.chat import ChatRequest, ImagePart, Message, TextPart
from openmaas.domain.errors import EngineFailure, InvalidRequest
from openmaas.engines.chat_template import template_tool, template_tool_call
from openmaas.engines.checks import image_bytes

# What the processor returns that the runner supplies itself.
_RUNNER_INPUTS = frozenset({"input_ids", "attention_mask", "position_ids"})
# Architectures whose image tokens attend to each other both ways: the runner's attention is causal.
_BIDIRECTIONAL_IMAGES = {"gemma3": "Gemma 3", "paligemma": "PaliGemma"}


@dataclass(frozen=True, slots=True)
class VisionPrompt:
    """A prompt with its images, ready for a prefill of its own."""

    ids: list[int]
    #: The processor's pixel inputs, named as the model's `forward` takes them.
    inputs: dict[str, torch.Tensor]
    #: `[3, 1, len(ids)]` M-RoPE positions, or None for positions 0..len(ids)-1.
    positions: torch.Tensor | None
    #: The position of the first generated token.
    next_position: int


class VisionRenderer:
    """Renders requests for one image-text-to-text model; `chat_template` overrides the processor's."""

    def __init__(self, processor: Any, model: Any, chat_template: str | None = None) -> None:
        """Blocking (it renders a probe conversation with a small image, so that a processor this
        engine cannot drive fails the start instead of every request)."""
        if chat_template is None and not getattr(processor, "chat_template", None):
            raise ValueError("the processor has no chat template; set the `chat_template` option")
        self._processor = processor
        self._template = chat_template
        accepted = inspect.signature(model.forward).parameters
        self._input_names = frozenset(accepted) - _RUNNER_INPUTS
        rope_index = getattr(getattr(model, "model", None), "get_rope_index", None)
        self._rope_index = rope_index if callable(rope_index) else None
        self._probe(model.config.model_type)

    def _probe(self, architecture: str) -> None:
        probe = BytesIO()
        Image.new("RGB", (64, 64), (128, 128, 128)).save(probe, format="PNG")
        message = Message(
            "user", (ImagePart(url="data:image/png;base64,", data=probe.getvalue()), TextPart("?"))
        )
        try:
            self.prepare(ChatRequest(model="probe", messages=(message,)))
        except Exception as error:
            raise EngineFailure(
                f"transformers' processor for the {architecture} architecture fails on a conversation with "
                f"an image here ({type(error).__name__}: {error}); the transformers engine cannot serve it."
            ) from error

    @property
    def uses_mrope(self) -> bool:
        return self._rope_index is not None

    def render(self, request: ChatRequest) -> list[int]:
        """The prompt ids of a request; with images, as many as `prepare` makes (blocking then)."""
        if request.has_images:
            return self.prepare(request).ids
        encoded = self._apply_template(request, [])
        return [int(i) for i in encoded["input_ids"][0]]

    def prepare(self, request: ChatRequest) -> VisionPrompt:
        """Blocking (image decoding and processing): the prompt ids and pixel inputs of a request."""
        images = [decode_image(part) for message in request.messages for part in message.images]
        encoded = self._apply_template(request, images)
        ids = encoded["input_ids"]
        inputs = {
            name: value
            for name, value in encoded.items()
            if name in self._input_names and isinstance(value, torch.Tensor)
        }
        positions, next_position = self._positions(encoded)
        return VisionPrompt(
            ids=[int(i) for i in ids[0]], inputs=inputs, positions=positions, next_position=next_position
        )

    def _apply_template(self, request: ChatRequest, images: list[Image.Image]) -> Any:
        conversation = [_template_message(m, iter(images)) for m in request.messages]
        extra: dict[str, Any] = {}
        if request.reasoning.enabled is not None:
            extra["enable_thinking"] = request.reasoning.enabled
        try:
            return self._processor.apply_chat_template(
                conversation,
                tools=[template_tool(t) for t in request.tools] or None,
                chat_template=self._template,
                add_generation_prompt=True,
                tokenize=True,
                return_dict=True,
                return_tensors="pt",
                sanitize_control_tokens=True,
                **extra,
            )
        except TemplateError as error:
            raise InvalidRequest(
                f"Model '{request.model}' cannot take these messages: {error}", param="messages"
            ) from error
        except ValueError as error:  # the image processor refuses an image (too small to patch, say)
            raise InvalidRequest(
                f"Model '{request.model}' cannot read these images: {error}", param="messages"
            ) from error

    def _positions(self, encoded: Any) -> tuple[torch.Tensor | None, int]:
        length = int(encoded["input_ids"].shape[1])
        if self._rope_index is None:
            return None, length
        if encoded.get("mm_token_type_ids") is None:  # needed to place the image tokens in M-RoPE
            raise EngineFailure("the processor does not mark the image tokens (mm_token_type_ids)")
        positions, _ = self._rope_index(
            input_ids=encoded["input_ids"],
            mm_token_type_ids=encoded["mm_token_type_ids"],
            image_grid_thw=encoded.get("image_grid_thw"),
        )
        return positions, int(positions.max()) + 1


def _template_message(message: Message, images: Any) -> dict[str, Any]:
    """A message as multimodal templates take it; `images` yields the decoded images in order."""
    content: list[dict[str, Any]] = []
    for part in message.content:
        if isinstance(part, TextPart):
            content.append({"type": "text", "text": part.text})
        else:
            content.append({"type": "image", "image": next(images)})
    rendered: dict[str, Any] = {"role": message.role, "content": content}
    if message.tool_calls:
        rendered["tool_calls"] = [template_tool_call(call) for call in message.tool_calls]
    if message.tool_call_id is not None:
        rendered["tool_call_id"] = message.tool_call_id
    if message.name is not None:
        rendered["name"] = message.name
    return rendered


def decode_image(part: ImagePart) -> Image.Image:
    """The fetched bytes of an image part as an RGB image (first frame, EXIF orientation applied)."""
    with Image.open(BytesIO(image_bytes(part))) as opened:
        return ImageOps.exif_transpose(opened).convert("RGB")


def load_processor(folder: Path, config: Any, settings: dict[str, Any] | None = None) -> Any:
    """The processor of the model in `folder` (whose config is `config`), for images and text, with
    `settings` over the saved ones (the `processor` option)."""
    from transformers.models.auto.processing_auto import PROCESSOR_MAPPING

    if config.model_type in _BIDIRECTIONAL_IMAGES:
        raise EngineFailure(
            f"In {_BIDIRECTIONAL_IMAGES[config.model_type]} models the tokens of an image attend to each "
            "other in both directions, which the transformers engine's causal attention does not do; serve "
            "this model with the vLLM engine."
        )
    if type(config) not in PROCESSOR_MAPPING:
        raise EngineFailure(
            f"transformers has no processor for the {config.model_type} architecture; "
            "the transformers engine cannot serve it as a vision model."
        )
    processor_class: Any = PROCESSOR_MAPPING[type(config)]
    return images_only(processor_class).from_pretrained(folder, local_files_only=True, **(settings or {}))


def images_only(processor_class: Any) -> Any:
    """`processor_class` without its video processor, when torchvision is not installed.

    transformers builds Qwen2-VL's and SmolVLM's processors with a video processor, and video processors
    need torchvision (which PyPI has no CPU build of). This engine takes images only, so without
    torchvision it leaves the video half out: the subclass's `__init__` does not name it, which is how
    transformers decides which parts a processor loads and checks.
    """
    from transformers.utils import is_torchvision_available

    def __init__(
        self: Any,
        image_processor: Any = None,
        tokenizer: Any = None,
        chat_template: Any = None,
        **kwargs: Any,
    ) -> None:
        processor_class.__init__(
            self,
            image_processor=image_processor,
            tokenizer=tokenizer,
            video_processor=None,
            chat_template=chat_template,
            **kwargs,
        )

    if is_torchvision_available() or "video_processor" not in processor_class.get_attributes():
        return processor_class
    return type(processor_class.__name__, (processor_class,), {"__init__": __init__})
