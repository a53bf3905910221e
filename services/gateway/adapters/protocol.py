"""Shapes of `/v1/adapters` and of vLLM's `/v1/load_lora_adapter`."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class AdapterObject(BaseModel):
    id: str  # the model name it is served as
    object: Literal["adapter"] = "adapter"
    created_at: int
    base_model: str
    origin: Literal["imported"] = "imported"
    file_id: str | None = None  # the uploaded archive (purpose "adapter")
    rank: int
    target_modules: list[str] = Field(default_factory=list)
    trained_on: str | None = None  # base_model_name_or_path in its adapter_config.json


class AdapterList(BaseModel):
    object: Literal["list"] = "list"
    data: list[AdapterObject]
    has_more: bool = False


class DeletedAdapter(BaseModel):
    id: str
    object: Literal["adapter"] = "adapter"
    deleted: bool = True


class LoadLoraAdapterRequest(BaseModel):
    """vLLM's body: the adapter's name and its folder (or archive) on the server."""

    lora_name: str
    lora_path: str
    base_model_name: str | None = None  # Tuneloop's: which served base (default: the one fits)


class UnloadLoraAdapterRequest(BaseModel):
    lora_name: str
    lora_int_id: int | None = None  # vLLM's; ignored
