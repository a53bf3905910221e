"""OpenAI file object shapes."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

# OpenAI's purposes that make sense here, plus Tuneloop's: "datagen" (documents to generate
# a dataset from) and "knowledge" (knowledge-base documents). Jobs also register their
# outputs as "fine-tune-results" and batches theirs as "batch_output"; nobody uploads those.
UPLOAD_PURPOSES = frozenset(
    {"fine-tune", "assistants", "user_data", "evals", "datagen", "knowledge", "batch"}
)


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
