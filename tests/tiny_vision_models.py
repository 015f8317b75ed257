"""Tiny image-text-to-text models built offline, for tests through the real vision loading path.

Both reuse the tiny BPE tokenizer of `tiny_models.py` (with the image tokens added) and write a Hugging
Face folder with the model (random float32 weights, seeded) and its processor, whose image processor is
built from its class with small sizes, so nothing is downloaded:

- `build_tiny_vision_model`: Qwen2-VL (a 1-layer vision tower, a 2-layer language model with M-RoPE);
- `build_tiny_llava`: LLaVA (a 1-layer CLIP vision tower, a 2-layer Llama; ordinary 1-D positions).

The end-of-turn token is made unlikely, so answers run to `max_tokens`. Use the session fixture
`tiny_vision_model` (tests/conftest.py) rather than building again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.tiny_models import build_tiny_tokenizer

VISION_TOKENS = ["<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"]

# Qwen2-VL's template, reduced: each image part becomes <|vision_start|><|image_pad|><|vision_end|>, which
# the processor expands to one <|image_pad|> per merged patch. LLaVA's places `<image>` instead.
QWEN2_VL_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message.role + '\\n' }}"
    "{%- if message.content is string %}{{- message.content }}"
    "{%- else %}{%- for part in message.content %}"
    "{%- if part.type == 'image' %}{{- '<|vision_start|><|image_pad|><|vision_end|>' }}"
    "{%- elif part.type == 'text' %}{{- part.text }}{%- endif %}"
    "{%- endfor %}{%- endif %}"
    "{{- '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)
LLAVA_TEMPLATE = QWEN2_VL_TEMPLATE.replace("<|vision_start|><|image_pad|><|vision_end|>", "<image>")


def _language_model(tokenizer: Any, max_positions: int) -> dict[str, Any]:
    return {
        "vocab_size": len(tokenizer),
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "head_dim": 32,
        "max_position_embeddings": max_positions,
        "initializer_range": 0.2,  # large enough that the logits of a random model are well apart
        "bos_token_id": None,
        "eos_token_id": tokenizer.convert_tokens_to_ids("<|im_end|>"),
        "pad_token_id": tokenizer.convert_tokens_to_ids("<|endoftext|>"),
    }


def _save(model: Any, processor: Any, tokenizer: Any, folder: Path) -> Path:
    import torch
    from transformers import GenerationConfig

    eos = tokenizer.convert_tokens_to_ids("<|im_end|>")
    pad = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    with torch.no_grad():  # answers run to max_tokens, as with the tiny text model
        model.lm_head.weight[eos].fill_(0.0)
        model.lm_head.weight[pad].fill_(0.0)
    model.generation_config = GenerationConfig(eos_token_id=eos, pad_token_id=pad)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def build_tiny_vision_model(folder: Path, *, seed: int = 1234, max_positions: int = 1024) -> Path:
    """A tiny Qwen2-VL and its processor (images resized to 4..64 merged patches of 28x28 pixels)."""
    import torch
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration, Qwen2VLProcessor
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    from openmaas.engines.transformers.vision import images_only

    tokenizer = build_tiny_tokenizer()
    tokenizer.add_special_tokens(
        {"additional_special_tokens": VISION_TOKENS}, replace_extra_special_tokens=False
    )
    tokenizer.chat_template = QWEN2_VL_TEMPLATE
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in VISION_TOKENS}
    image_processor = Qwen2VLImageProcessorPil(
        min_pixels=28 * 28 * 4, max_pixels=28 * 28 * 64, patch_size=14, merge_size=2, temporal_patch_size=2
    )
    processor = images_only(Qwen2VLProcessor)(image_processor=image_processor, tokenizer=tokenizer)
    processor.chat_template = QWEN2_VL_TEMPLATE
    text = _language_model(tokenizer, max_positions)
    del text["head_dim"]  # Qwen2-VL derives it (64 / 2 heads); M-RoPE splits its 16 frequencies 4/6/6
    text["rope_parameters"] = {"rope_type": "default", "mrope_section": [4, 6, 6], "rope_theta": 10000.0}
    config = Qwen2VLConfig(
        text_config=text,
        vision_config={
            "depth": 1,
            "embed_dim": 32,
            "hidden_size": 64,
            "num_heads": 2,
            "mlp_ratio": 2,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "initializer_range": 0.2,
        },
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    return _save(Qwen2VLForConditionalGeneration(config).eval(), processor, tokenizer, folder)


def build_tiny_llava(folder: Path, *, seed: int = 1234, max_positions: int = 1024) -> Path:
    """A tiny LLaVA and its processor (images resized and cropped to 56x56: 16 patches of 14x14, plus
    the CLS token the vision tower adds and the `default` feature strategy drops)."""
    import torch
    from transformers import (
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    tokenizer = build_tiny_tokenizer()
    tokenizer.add_special_tokens(
        {"additional_special_tokens": ["<image>"]}, replace_extra_special_tokens=False
    )
    tokenizer.chat_template = LLAVA_TEMPLATE
    image_processor = CLIPImageProcessorPil(size={"shortest_edge": 56}, crop_size={"height": 56, "width": 56})
    processor = LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=14,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        chat_template=LLAVA_TEMPLATE,
    )
    vision = CLIPVisionConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        image_size=56,
        patch_size=14,
        projection_dim=32,
        initializer_range=0.2,
    )
    config = LlavaConfig(
        vision_config=vision,
        text_config=LlamaConfig(**_language_model(tokenizer, max_positions)),
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        vision_feature_select_strategy="default",
        vision_feature_layer=-1,
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    return _save(LlavaForConditionalGeneration(config).eval(), processor, tokenizer, folder)
