"""What an export job asks for, read from the job request the gateway checked."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from google.protobuf import struct_pb2
from google.protobuf.json_format import MessageToDict

from tuneloop_core.errors import InvalidRequestError
from tuneloop_core.quantization import check_quantization


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
    dataset_path: str  # relative to the data directory; empty: none
    pre_tokenizer: str  # empty: only what llama.cpp recognises
    context_length: int

    @property
    def file_stem(self) -> str:
        """`ft:smollm2-135m:acme:x:ftjob-1` → `smollm2-135m-acme-x-ftjob-1`."""
        stem = re.sub(r"[^A-Za-z0-9._-]+", "-", self.model.removeprefix("ft:")).strip("-.")
        return stem[:100] or "model"


def parse_spec(spec: struct_pb2.Struct) -> ExportSpec:
    data: dict[str, Any] = MessageToDict(spec)
    if not data.get("model") or not data.get("base_path"):
        raise InvalidRequestError("the export job names no model", param="model")
    return ExportSpec(
        model=str(data["model"]),
        base_model=str(data.get("base_model") or data["model"]),
        base_path=str(data["base_path"]),
        adapter_path=str(data.get("adapter_path") or ""),
        quantization=check_quantization(str(data.get("quantization") or "q4_K_M")),
        ollama_model=str(data.get("ollama_model") or ""),
        system=str(data.get("system") or ""),
        prompts=[str(p) for p in data.get("prompts") or []],
        dataset_path=str(data.get("dataset_path") or ""),
        pre_tokenizer=str(data.get("pre_tokenizer") or ""),
        # A protobuf Struct holds every number as a double.
        context_length=int(data.get("context_length") or 0),
    )
