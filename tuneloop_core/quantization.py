"""GGUF quantisation types an export accepts, shared by the gateway (which validates a
request) and the trainer's export worker (which quantises).

Each name maps to llama.cpp's `llama_ftype` number, which is also what a GGUF file records
as `general.file_type`, so a test can check that a file is what it claims to be.

`auto` (the default) is no type: the export tries LADDER from the smallest file up and
keeps the first rung whose answers stay within the drift budget (services/trainer/export).
"""

from __future__ import annotations

import re

from tuneloop_core.errors import InvalidRequestError

AUTO = "auto"
DEFAULT_QUANTIZATION = AUTO
# name → llama_ftype (LLAMA_FTYPE_MOSTLY_*); the values are llama.cpp's ABI and never change.
QUANTIZATIONS: dict[str, int] = {
    "q4_K_M": 15,
    "q4_K_S": 14,
    "q5_K_M": 17,
    "q6_K": 18,
    "q8_0": 7,
    "f16": 1,
}
# What `auto` tries, smallest file first (Ollama's own default, q4_K_M, is the first rung).
LADDER: tuple[str, ...] = ("q4_K_M", "q5_K_M", "q6_K", "q8_0")


def check_quantization(name: str, param: str = "quantization") -> str:
    """The canonical spelling of `name` (case-insensitive: "Q4_K_M" → "q4_K_M"; "auto"), or
    a 400 that lists every valid value."""
    by_lower = {key.lower(): key for key in (AUTO, *QUANTIZATIONS)}
    canonical = by_lower.get(name.strip().lower())
    if canonical is None:
        raise InvalidRequestError(
            f"Unknown quantization type '{name}'; valid: {AUTO} (the smallest of "
            f"{', '.join(LADDER)} within the drift budget), {', '.join(QUANTIZATIONS)}",
            param=param,
            code="invalid_quantization",
        )
    return canonical


def default_ollama_name(model: str, quantization: str) -> str:
    """`ft:smollm2-135m:acme:gongwen:ftjob-x` → `smollm2-135m-acme-gongwen-ftjob-x:q4_k_m`."""
    name = re.sub(r"[^a-z0-9._-]+", "-", model.lower().removeprefix("ft:")).strip("-.")
    return f"{name[:80] or 'model'}:{quantization.lower()}"
