"""The transformers chat engine: continuous batching over a Hugging Face causal LM (or an
image-text-to-text model), on CPU or one GPU.

Modules, one concept each: `options` (registry options), `loading` (weights, GGUF conversion cache),
`vision` (image-text-to-text models: the processor, prompts with
images), `kvcache` (the preallocated batched KV cache), `runner` (one forward pass), `sampling` (per-row
token choice), `job` (a request's state and its events), `batcher`
(the generation thread), `quantize` (opt-in int8), `engine` (the asyncio face).
The chat template rendering is shared with the vLLM engine (`openmaas.engines.chat_template`).
Importing this package does not import torch; `TransformersChatEngine.start()` does.
"""

from openmaas.engines.transformers.engine import TransformersChatEngine

__all__ = ["TransformersChatEngine"]
