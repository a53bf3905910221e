"""Shapes shared by every job endpoint: lists, job objects, job events."""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    object: Literal["list"] = "list"
    data: list[T]
    has_more: bool


class JobError(BaseModel):
    code: str | None = None
    message: str = ""
    param: str | None = None


class JobObject(BaseModel):
    """A Tuneloop job (datagen, evaluation, comparison, export, knowledge-base ingest):
    `spec` is what was asked, `result` what it produced once it has."""

    id: str
    object: str
    created_at: int
    started_at: int | None = None
    finished_at: int | None = None
    status: str
    spec: dict[str, Any]
    result: dict[str, Any] | None = None
    error: JobError | None = None


class JobEventObject(BaseModel):
    """One progress event; events are listed oldest first and `after` is an event id."""

    id: str
    object: Literal["job.event"] = "job.event"
    created_at: int
    seq: int
    level: str
    type: str
    message: str
    data: dict[str, Any] | None = None
