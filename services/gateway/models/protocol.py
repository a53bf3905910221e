"""OpenAI model objects, with Tuneloop's lineage fields."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class ModelObject(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str
    kind: Literal["base", "adapter", "embedding"] | None = None  # Tuneloop's: what it serves
    parent: str | None = None  # base model of an adapter
    root: str | None = None  # weights or adapter directory
    job_id: str | None = None
    epoch: int | None = None
    context_length: int | None = None
    origin: Literal["trained", "imported"] | None = None  # an adapter's: Tuneloop's or elsewhere
    file_id: str | None = None  # an imported adapter's uploaded archive


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelObject]
    has_more: bool = False


class DeletedModel(BaseModel):
    id: str
    object: Literal["model"] = "model"
    deleted: bool = True
