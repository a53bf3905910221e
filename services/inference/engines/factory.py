"""Choosing and building an engine for a base model from the settings."""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

from services.inference.engines.base import BaseModelSpec, Engine
from services.inference.engines.transformers_engine import TransformersEngine
from services.inference.settings import InferenceSettings

log = logging.getLogger(__name__)


def vllm_available() -> bool:
    return importlib.util.find_spec("vllm") is not None


def is_gguf(path: Path) -> bool:
    """A GGUF file, or a folder holding one and no Hugging Face model (an export)."""
    if path.suffix == ".gguf":
        return True
    return path.is_dir() and not (path / "config.json").exists() and any(path.glob("*.gguf"))


def build_engine(settings: InferenceSettings, base: BaseModelSpec) -> Engine:
    """llama.cpp for a GGUF; else vLLM when asked for, or by default when it is installed;
    transformers otherwise."""
    if is_gguf(base.path):
        from services.inference.engines.llamacpp_engine import LlamaCppEngine

        log.info("engine for %s: llama.cpp (GGUF)", base.name)
        return LlamaCppEngine(base, max_model_len=settings.max_model_len)
    kind = settings.engine
    if kind == "auto":
        kind = "vllm" if vllm_available() else "transformers"
    log.info("engine for %s: %s", base.name, kind)
    if kind == "vllm":
        from services.inference.engines.vllm_engine import VllmEngine

        return VllmEngine(
            base,
            dtype=settings.dtype,
            max_model_len=settings.max_model_len,
            max_loras=settings.max_loras,
            max_lora_rank=settings.max_lora_rank,
        )
    return TransformersEngine(base, dtype=settings.dtype, max_batch_size=settings.max_batch_size)
