"""OpenAI file object shapes."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

# OpenAI's purposes, plus Tuneloop's: documents for dataset generation and knowledge bases,
# and the files jobs produce.
PURPOSES = frozenset(
    {
        "fine-tune",
        "fine-tune-results",
        "assistants",
        "user_data",
        "evals",
        "batch",
        "datagen",
        "knowledge",
    }
)
UPLOADABLE = PURPOSES - {"fine-tune-results"}


class FileObject(BaseModel):
    id: str
    object: Literal["file"] = "file"
    bytes: int
    created_at: int
    filename: str
    purpose: str
    status: Literal["processed"] = "processed"
    expires_at: int | None = None
    status_details: str | None = None


class FileList(BaseModel):
    object: Literal["list"] = "list"
    data: list[FileObject]
    first_id: str | None
    last_id: str | None
    has_more: bool


class DeletedFile(BaseModel):
    id: str
    object: Literal["file"] = "file"
    deleted: bool = True
