"""OpenVINO's own model (IR: `openvino_model.xml` + `.bin`) from the float16 GGUF file.

OpenVINO GenAI builds the model from a GGUF file inside a pipeline's constructor and, asked to
(`enable_save_ov_model`), saves it beside the file. So the export builds a pipeline once, with the
prepared tokenizer and the smallest KV cache, and lets it go; `compress.py` then quantizes the saved
model's weights, and the engine loads the IR from then on (weights memory-mapped, no GGUF parsing).
"""

from __future__ import annotations

from pathlib import Path

from openmaas.engines.openvino.tokenizers import OPENVINO_TOKENIZER

IR_MODEL = "openvino_model.xml"


def export_ir(gguf_file: Path) -> Path:
    """Build OpenVINO's model from `gguf_file` and save it beside it; returns the IR's path (blocking)."""
    import openvino_genai

    folder = gguf_file.parent
    assert (folder / OPENVINO_TOKENIZER).is_file(), "the tokenizer is prepared first"
    scheduler = openvino_genai.SchedulerConfig()
    scheduler.num_kv_blocks = 1
    pipeline = openvino_genai.ContinuousBatchingPipeline(
        str(gguf_file), openvino_genai.Tokenizer(str(folder)), scheduler, "CPU", enable_save_ov_model=True
    )
    del pipeline
    return folder / IR_MODEL
