"""F16 GGUF → the requested type with llama.cpp's own quantiser (`llama_model_quantize`)."""

from __future__ import annotations

import logging
import os
import shutil
import time
from pathlib import Path

from tuneloop_core.errors import InternalError, ServiceUnavailableError
from tuneloop_core.quantization import QUANTIZATIONS, check_quantization

log = logging.getLogger(__name__)


def quantize_gguf(source: Path, target: Path, quantization: str, threads: int = 0) -> float:
    """Write `target` quantised to `quantization`; returns the seconds it took. The source is
    F16, so an `f16` export is a copy."""
    quantization = check_quantization(quantization)
    started = time.monotonic()
    if QUANTIZATIONS[quantization] == QUANTIZATIONS["f16"]:
        shutil.copyfile(source, target)
        return time.monotonic() - started
    try:
        import llama_cpp
    except ImportError as exc:
        raise ServiceUnavailableError(
            "llama-cpp-python is not installed; run `make setup` (its first build takes about "
            "ten minutes)",
            code="llama_cpp_missing",
        ) from exc
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = QUANTIZATIONS[quantization]
    params.nthread = threads or (os.cpu_count() or 1)
    status = llama_cpp.llama_model_quantize(str(source).encode(), str(target).encode(), params)
    if status != 0 or not target.is_file():
        raise InternalError(f"llama_model_quantize to {quantization} failed (status {status})")
    seconds = time.monotonic() - started
    log.info("quantised %s → %s (%s) in %.1f s", source.name, target.name, quantization, seconds)
    return seconds
