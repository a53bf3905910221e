"""Request shape of `POST /v1/datagen/jobs` (the job object is the generic one)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class TeacherIn(BaseModel):
    """The model that writes and scores the pairs: one the gateway serves (the default), or
    any OpenAI-compatible endpoint given by `base_url` (and its `api_key`)."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1, max_length=300)
    base_url: str | None = Field(None, pattern=r"^https?://")
    api_key: str | None = Field(None, max_length=500)
    timeout_s: float = Field(120.0, gt=0, le=3600)
    max_tokens: int | None = Field(None, ge=16, le=32_768)  # per answer; None: the endpoint's


class ChunkingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    size: int = Field(600, ge=50, le=20_000)  # per chunk, in `unit`
    overlap: int = Field(80, ge=0)
    unit: Literal["chars", "tokens"] = "chars"

    @model_validator(mode="after")
    def _overlap_below_size(self) -> ChunkingIn:
        if self.overlap >= self.size:
            raise ValueError("chunking.overlap must be smaller than chunking.size")
        return self


class CreateDatagenJobRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    file_ids: list[str] = Field(min_length=1, max_length=200)  # documents (purpose datagen)
    teacher: TeacherIn | None = None  # None: the first base model the gateway serves
    language: Literal["zh-TW", "en"] = "zh-TW"
    # grounded: answers are sentences of the document and the teacher writes questions for
    # them under a grammar (works with small teachers); free: the teacher writes whole pairs.
    mode: Literal["grounded", "free"] = "grounded"
    questions_per_chunk: int = Field(3, ge=1, le=20)  # free mode
    phrasings_per_answer: int = Field(3, ge=1, le=10)  # grounded mode
    chunking: ChunkingIn = Field(default_factory=ChunkingIn)
    max_chunks: int | None = Field(None, ge=1)
    reasoning: bool = False
    # judge: the teacher rates each pair; likelihood: whether the question makes its own
    # answer likelier than the document's other answers; auto: likelihood for a served
    # teacher, judge for an external one
    scorer: Literal["auto", "judge", "likelihood"] = "auto"
    min_score: float = Field(3.0, ge=0, le=5)
    refine: bool = True
    dedupe_threshold: float = Field(0.8, gt=0, le=1)
    eval_fraction: float = Field(0.1, ge=0, lt=1)
    export_format: Literal["alpaca", "sharegpt", "openai"] = "alpaca"
    concurrency: int = Field(4, ge=1, le=64)
    seed: int = 0


class PairObject(BaseModel):
    """One generated pair as reviewed: the teacher's text unless a person edited it."""

    id: str
    object: Literal["datagen.pair"] = "datagen.pair"
    question: str
    answer: str
    score: float | None
    split: Literal["train", "eval"]
    document: str
    page: int | None
    heading_path: list[str]
    refined: bool
    edited: bool
    confirmed: bool
    dropped: bool


class PairList(BaseModel):
    object: Literal["list"] = "list"
    data: list[PairObject]
    counts: dict[str, int]  # total, confirmed, dropped, edited


class PairUpdate(BaseModel):
    """A person's review of one pair; fields left out stay as they are."""

    model_config = ConfigDict(extra="forbid")

    question: str | None = Field(None, min_length=1, max_length=20_000)
    answer: str | None = Field(None, min_length=1, max_length=50_000)
    confirmed: bool | None = None
    dropped: bool | None = None

    @model_validator(mode="after")
    def _something(self) -> PairUpdate:
        if not self.model_fields_set:
            raise ValueError("nothing to change: give question, answer, confirmed or dropped")
        for name in ("question", "answer"):
            value = getattr(self, name)
            if name in self.model_fields_set and (value is None or not value.strip()):
                raise ValueError(f"{name} must not be empty")
        return self


class ReviewedDatasetRequest(BaseModel):
    """Build a dataset file from the reviewed pairs (dropped ones never included)."""

    model_config = ConfigDict(extra="forbid")

    split: Literal["train", "eval", "all"] = "train"
    confirmed_only: bool = False
    format: Literal["alpaca", "sharegpt", "openai"] = "alpaca"
