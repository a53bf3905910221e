"""Request and report shapes of `/v1/datasets/validate`."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ValidateDatasetRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    file_id: str = Field(min_length=1)
    # "alpaca", "sharegpt", "openai", "prompt_completion", or for preference pairs
    # "openai_preference", "alpaca_pairwise", "sharegpt_pairwise"; None: detect it.
    format: str | None = None


class RecordError(BaseModel):
    line: int  # 1-based line (JSONL) or element (JSON array)
    record: int
    code: str
    reason: str


class LengthStats(BaseModel):
    min: int
    mean: float
    p50: int
    p95: int
    max: int


class DatasetValidation(BaseModel):
    object: Literal["dataset.validation"] = "dataset.validation"
    file_id: str
    valid: bool  # whether the fine-tuning API would accept the file as it is
    format: str | None
    kind: str | None  # "sft" (conversations) or "preference" (pairs, for DPO); None: unknown
    container: str | None
    n_records: int
    n_valid: int
    n_duplicates: int
    errors: list[RecordError]
    error: str | None  # what is wrong with the file as a whole
    chars: LengthStats | None  # characters per valid example
