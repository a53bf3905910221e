"""Settings of the export worker (it runs inside the trainer processes), from
`TUNELOOP_EXPORT_*`."""

from __future__ import annotations

import sys
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# `make setup` unpacks llama.cpp's converter from the llama-cpp-python sdist here, next to
# the venv's other shared data, so it always matches the installed llama_cpp build.
DEFAULT_CONVERTER_DIR = Path(sys.prefix) / "share" / "llama-cpp-convert"


class ExportSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TUNELOOP_EXPORT_", extra="ignore")

    converter_dir: Path = Field(
        DEFAULT_CONVERTER_DIR,
        description="holds convert_hf_to_gguf.py, conversion/ and gguf-py/ (make setup)",
    )
    ollama_url: str | None = Field(None, description="Ollama server to import exports into")
    ollama_timeout_s: float = Field(600.0, description="per Ollama request (blob uploads)")
    verify_prompts: int = Field(
        32, description="held-out questions in the drift check (0 = skip it; auto keeps q4_K_M)"
    )
    verify_max_tokens: int = Field(48, description="greedy tokens generated per prompt")
    max_rouge_l_drift: float = Field(
        2.0,
        description="drift budget: ROUGE-L points (against the references) a quantisation "
        "may lose; a lossy export beyond the budget is flagged, and auto tries the next rung",
    )
    min_greedy_identical: float = Field(
        90.0,
        description="drift budget: % of greedy answers identical to the full-precision model's",
    )
    threads: int = Field(0, description="llama.cpp threads; 0 = all cores")
