"""Request shape of `/v1/exports` (a model → merged weights, GGUF, Modelfile, Ollama)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from tuneloop_core.quantization import DEFAULT_QUANTIZATION


class CreateExportRequest(BaseModel):
    """Export a base model or one of the tenant's adapters (merged into its base) to GGUF.

    The drift check runs `prompts` (or, when absent, prompts from `validation_file` or from
    the adapter's own fine-tuning data) through the full-precision and the quantised model."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1, max_length=512)
    # Any of tuneloop_core.quantization.QUANTIZATIONS; checked in the service so an unknown
    # type gets a 400 that lists the valid ones.
    quantization: str = DEFAULT_QUANTIZATION
    # Name of the model in Ollama; derived from `model` when absent.
    ollama_model: str | None = Field(None, max_length=200)
    # SYSTEM line of the Modelfile; when absent, the one the dataset used (if any).
    system: str | None = Field(None, max_length=8000)
    prompts: list[str] | None = Field(None, min_length=1, max_length=64)
    validation_file: str | None = None
    # llama.cpp's pre-tokenizer name (e.g. "gpt-2"), used only when llama.cpp does not
    # recognise the tokenizer (a self-trained one); the override is logged and reported.
    pre_tokenizer: str | None = Field(None, pattern=r"^[a-z0-9][a-z0-9._-]{0,39}$")
