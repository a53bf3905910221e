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
    verify_prompts: int = Field(8, description="prompts in the drift check (0 = skip it)")
    verify_max_tokens: int = Field(48, description="greedy tokens generated per prompt")
    drift_threshold: float = Field(
        5.0, description="ROUGE-L points lost to quantisation above which an export is flagged"
    )
    threads: int = Field(0, description="llama.cpp threads; 0 = all cores")
