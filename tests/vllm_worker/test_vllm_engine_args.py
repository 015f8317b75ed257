"""The registry options against the real vLLM 0.32 in `.venv-vllm`: every option the engine maps lands
on an `AsyncEngineArgs` field of that name, and an `engine_args` key vLLM does not know is an error that
names it. (Multi-GPU and Ray cannot run here; this checks what is passed through.)"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.servers import REPO
from tests.vllm_worker.conftest import vllm_python

SCRIPT = """
import json, sys
from dataclasses import asdict
from openmaas.domain.errors import EngineFailure
from openmaas.domain.models import ModelSpec
from openmaas.engines.vllm.options import VLLMOptions
from openmaas.engines.vllm.runtime import _engine_args

def spec(options):
    return ModelSpec(id="Org/Big", task="chat", engine="vllm", context_length=32768, options=options)

options = {
    "tensor_parallel_size": 4, "pipeline_parallel_size": 2, "distributed_executor_backend": "ray",
    "gpu_memory_utilization": 0.85, "dtype": "bfloat16", "enforce_eager": True, "kv_cache_space_gb": 2,
    "max_num_seqs": 64, "engine_args": {"enable_prefix_caching": True, "block_size": 32},
}
args = _engine_args(spec(options), VLLMOptions.parse("Org/Big", "vllm", options), sys.argv[1])
fields = ("model", "served_model_name", "tensor_parallel_size", "pipeline_parallel_size",
          "distributed_executor_backend", "gpu_memory_utilization", "dtype", "enforce_eager",
          "kv_cache_memory_bytes", "max_num_seqs", "max_model_len", "enable_prefix_caching")
result = {name: getattr(args, name) for name in fields}
result["structured_outputs_backend"] = args.structured_outputs_config.backend
try:
    bad = {"engine_args": {"tensor_paralel_size": 2}}
    _engine_args(spec(bad), VLLMOptions.parse("Org/Big", "vllm", bad), sys.argv[1])
except EngineFailure as error:
    result["error"] = str(error)
print(json.dumps(result))
"""


def test_options_map_onto_vllms_engine_arguments(tmp_path: Path) -> None:
    done = subprocess.run(
        [vllm_python(), "-c", SCRIPT, str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    error = result.pop("error")
    assert result == {
        "model": str(tmp_path),
        "served_model_name": "Org/Big",
        "tensor_parallel_size": 4,
        "pipeline_parallel_size": 2,
        "distributed_executor_backend": "ray",
        "gpu_memory_utilization": 0.85,
        "dtype": "bfloat16",
        "enforce_eager": True,
        "kv_cache_memory_bytes": 2 << 30,
        "max_num_seqs": 64,
        "max_model_len": 32768,
        "enable_prefix_caching": True,
        "structured_outputs_backend": "guidance",  # our grammars are llguidance's
    }
    assert "engine_args.tensor_paralel_size is not an argument of this vLLM's engine" in error
