"""GGUF quantisation types an export accepts, shared by the gateway (which validates a
request) and the trainer's export worker (which quantises).

Each name maps to llama.cpp's `llama_ftype` number, which is also what a GGUF file records
as `general.file_type`, so a test can check that a file is what it claims to be.
"""

from __future__ import annotations

from tuneloop_core.errors import InvalidRequestError

# Ollama pulls q4_K_M by default: the usual size/quality trade-off, so it is ours too.
DEFAULT_QUANTIZATION = "q4_K_M"
# name → llama_ftype (LLAMA_FTYPE_MOSTLY_*); the values are llama.cpp's ABI and never change.
QUANTIZATIONS: dict[str, int] = {
    "q4_K_M": 15,
    "q4_K_S": 14,
    "q5_K_M": 17,
    "q8_0": 7,
    "f16": 1,
}


def check_quantization(name: str, param: str = "quantization") -> str:
    """The canonical spelling of `name` (case-insensitive: "Q4_K_M" → "q4_K_M"), or a 400
    that lists every valid type."""
    by_lower = {key.lower(): key for key in QUANTIZATIONS}
    canonical = by_lower.get(name.strip().lower())
    if canonical is None:
        raise InvalidRequestError(
            f"Unknown quantization type '{name}'; valid types: {', '.join(QUANTIZATIONS)}",
            param=param,
            code="invalid_quantization",
        )
    return canonical
