"""The demo image model `openmaas/tiny-sd-demo`, built locally because no real weights reach this machine.

It is a real Stable Diffusion pipeline — UNet2DConditionModel, AutoencoderKL, CLIPTextModel, a byte-level
BPE CLIPTokenizer, a DDIM scheduler — but tiny (about 5 MB) and with **random weights** drawn from a fixed
seed, so every machine builds the same model and the same prompt and seed give the same picture. Its
pictures are coloured noise that changes with the prompt, the seed and the LoRAs; they do not depict the
prompt. It exists so that the whole image flow (tasks, progress, edits, LoRAs, signed URLs) works
offline; the engine loads it through the same `from_pretrained` path as any real model.

Demo LoRAs are built the same way: random low-rank adapters on the UNet's attention projections.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import os
import shutil
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
from diffusers.utils import convert_state_dict_to_diffusers
from peft import LoraConfig, get_peft_model_state_dict
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

DEMO_SEED = 20_241_122
_CORPUS = (
    "a golden cat sitting on a red chair in a sunny garden, portrait of a dog with a blue hat, "
    "mountains and a lake at sunset, oil painting of the sea, a city street at night in the rain, "
    "watercolor flowers, photo of a bowl of fruit on a wooden table, high quality, detailed, "
    "lowres, blurry, bad anatomy, worst quality"
)
_BPE_MERGES = 300
_LORA_TARGETS = ["to_q", "to_k", "to_v", "to_out.0"]


def _bytes_to_unicode() -> dict[int, str]:
    """The byte → printable character table of byte-level BPE (as in GPT-2 and CLIP)."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    codes = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    return dict(zip(printable, map(chr, codes), strict=True))


def _merge(symbols: list[str], pair: tuple[str, str]) -> list[str]:
    merged: list[str] = []
    index = 0
    while index < len(symbols):
        if index + 1 < len(symbols) and (symbols[index], symbols[index + 1]) == pair:
            merged.append(symbols[index] + symbols[index + 1])
            index += 2
        else:
            merged.append(symbols[index])
            index += 1
    return merged


def build_tokenizer() -> CLIPTokenizer:
    """A CLIP tokenizer whose BPE merges are learned from a small fixed corpus: every byte is in the
    vocabulary (nothing is unknown), and common prompt words are single tokens."""
    table = _bytes_to_unicode()
    counts = Counter(word for word in _CORPUS.replace(",", " ").split())
    words = {w: [table[b] for b in w.encode()] for w in counts}
    for symbols in words.values():
        symbols[-1] += "</w>"
    merges: list[tuple[str, str]] = []
    for _ in range(_BPE_MERGES):
        pairs: Counter[tuple[str, str]] = Counter()
        for word, symbols in words.items():
            for pair in itertools.pairwise(symbols):
                pairs[pair] += counts[word]
        if not pairs:
            break
        best = max(sorted(pairs), key=lambda pair: pairs[pair])  # ties broken by order: deterministic
        merges.append(best)
        words = {word: _merge(symbols, best) for word, symbols in words.items()}
    vocab: dict[str, int] = {}
    for symbol in [*table.values(), *(c + "</w>" for c in table.values()), *(a + b for a, b in merges)]:
        vocab.setdefault(symbol, len(vocab))
    for special in ("<|startoftext|>", "<|endoftext|>"):
        vocab[special] = len(vocab)
    merge_pairs: Any = merges  # the tokenizers BPE takes (a, b) pairs, whatever the annotation says
    return CLIPTokenizer(vocab=vocab, merges=merge_pairs, model_max_length=77)


def build_demo_pipeline(folder: Path, *, seed: int = DEMO_SEED) -> None:
    """Save the demo pipeline into `folder` (which must not exist yet)."""
    torch.manual_seed(seed)
    tokenizer = build_tokenizer()
    start, end = tokenizer.bos_token_id, tokenizer.eos_token_id
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(tokenizer),
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            max_position_embeddings=77,
            projection_dim=32,
            bos_token_id=start,
            eos_token_id=end,
            pad_token_id=end,
        )
    )
    unet = UNet2DConditionModel(
        sample_size=32,
        in_channels=4,
        out_channels=4,
        block_out_channels=(32, 64),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=8,
    )
    # Four blocks: the usual 8x latent downscaling of Stable Diffusion, with few channels.
    vae = AutoencoderKL(
        block_out_channels=(16, 32, 32, 32),
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        latent_channels=4,
        layers_per_block=1,
        norm_num_groups=16,
        sample_size=256,
    )
    scheduler = DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )
    pipeline: Any = StableDiffusionPipeline(
        unet=unet,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipeline.save_pretrained(folder)


def lora_seed(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "big")


def build_demo_lora(folder: Path, unet_folder: Path, *, seed: int, rank: int = 4, scale: float = 0.5) -> None:
    """Save a random LoRA for the UNet saved in `unet_folder` (a pipeline's `unet/`) into `folder`."""
    unet = UNet2DConditionModel.from_pretrained(unet_folder)
    unet.add_adapter(LoraConfig(r=rank, lora_alpha=rank, target_modules=_LORA_TARGETS))
    generator = torch.Generator().manual_seed(seed)
    state = {
        name: torch.randn(tensor.shape, generator=generator) * scale
        for name, tensor in sorted(get_peft_model_state_dict(unet).items())
    }
    StableDiffusionPipeline.save_lora_weights(
        folder, unet_lora_layers=convert_state_dict_to_diffusers(state), safe_serialization=True
    )


def _build_lora_into(folder: Path, *, unet: Path, seed: int) -> None:
    build_demo_lora(folder, unet, seed=seed)


def build_once(folder: Path, build: Callable[[Path], None]) -> Path:
    """Run `build(partial_folder)` unless `folder` exists, then move the result into place atomically,
    so that a crash or a concurrent start never leaves a half-built model behind."""
    if folder.is_dir():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    partial = folder.with_name(f".{folder.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    build(partial)
    try:
        partial.rename(folder)
    except OSError:
        if not folder.is_dir():
            raise
        shutil.rmtree(partial, ignore_errors=True)  # another process built it first
    return folder


def ensure_demo(cache_dir: Path, lora_names: list[str]) -> tuple[Path, dict[str, Path]]:
    """The demo pipeline and demo LoRAs in `cache_dir`, built on first use."""
    pipeline = build_once(cache_dir / "demo-pipeline", build_demo_pipeline)
    loras = {
        name: build_once(
            cache_dir / "demo-loras" / hashlib.sha256(name.encode()).hexdigest()[:16],
            functools.partial(_build_lora_into, unet=pipeline / "unet", seed=lora_seed(name)),
        )
        for name in lora_names
    }
    return pipeline, loras
