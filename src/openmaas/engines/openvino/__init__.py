"""The OpenVINO chat engine: OpenVINO GenAI's continuous batching with a paged KV cache, on CPU.

Modules, one concept each: `options` (registry options), `prepare` (the prepared folder, made once:
`requantize` for a GGUF source, `convert_hf` for a Hugging Face folder, both through `gguf_files`;
`tokenizers` for the tokenizer in both forms), `loading` (the prepared model and its pipeline),
`sampling` (a request's `GenerationConfig`), `structured` (constrained answers as xgrammar structural
tags), `generation` (one request inside the pipeline, its thinking budget), `driver` (the thread that
steps the pipeline) and `engine` (the asyncio face).
Importing this package does not import OpenVINO; `OpenVINOChatEngine.start()` does.
"""

from openmaas.engines.openvino.engine import OpenVINOChatEngine

__all__ = ["OpenVINOChatEngine"]
