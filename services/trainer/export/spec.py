"""What an export job asks for: its typed spec (`tuneloop.trainer.v1.ExportJobSpec`), read
when the worker takes the job."""

from __future__ import annotations

import re
from dataclasses import dataclass

from tuneloop.trainer.v1 import trainer_pb2
from tuneloop_core.errors import InvalidRequestError
from tuneloop_core.quantization import DEFAULT_QUANTIZATION, check_quantization


@dataclass(frozen=True)
class ExportSpec:
    model: str
    base_model: str
    base_path: str  # directory (or hub id) of the base weights
    adapter_path: str  # empty for a base model
    quantization: str
    ollama_model: str
    system: str  # empty: the dataset's, if it had one
    prompts: list[str]
    dataset_path: str  # where the drift check's dataset is on this host; empty: none
    pre_tokenizer: str  # empty: only what llama.cpp recognises
    context_length: int
    dataset_file: str = ""  # its file id, which the worker resolves into dataset_path

    @property
    def file_stem(self) -> str:
        """`ft:smollm2-135m:acme:x:ftjob-1` → `smollm2-135m-acme-x-ftjob-1`."""
        stem = re.sub(r"[^A-Za-z0-9._-]+", "-", self.model.removeprefix("ft:")).strip("-.")
        return stem[:100] or "model"


def from_pb(spec: trainer_pb2.ExportJobSpec) -> ExportSpec:
    """The worker's view of the spec it took from the queue, checked the way the gateway
    checked the request (a publish that bypassed the gateway fails the same way)."""
    if not spec.model or not spec.base_path:
        raise InvalidRequestError("the export job names no model", param="model")
    return ExportSpec(
        model=spec.model,
        base_model=spec.base_model or spec.model,
        base_path=spec.base_path,
        adapter_path=spec.adapter_path,
        quantization=check_quantization(spec.quantization or DEFAULT_QUANTIZATION),
        ollama_model=spec.ollama_model,
        system=spec.system,
        prompts=list(spec.prompts),
        dataset_path="",
        pre_tokenizer=spec.pre_tokenizer,
        context_length=spec.context_length,
        dataset_file=spec.dataset_file,
    )
