"""Request shape of `POST /v1/datagen/jobs` (the job object is the generic one)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tuneloop.datagen.v1 import datagen_pb2
from tuneloop_core.jobspecs import datagen as bounds


class TeacherIn(BaseModel):
    """The model that writes and scores the pairs: one the gateway serves (the default), or
    any OpenAI-compatible endpoint given by `base_url` (and its `api_key`)."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1, max_length=300)
    base_url: str | None = Field(None, pattern=r"^https?://")
    api_key: str | None = Field(None, max_length=500)
    timeout_s: float = Field(bounds.TIMEOUT_S, gt=0, le=bounds.MAX_TIMEOUT_S)
    max_tokens: int | None = Field(  # per answer; None: the endpoint's
        None, ge=bounds.MIN_TEACHER_TOKENS, le=bounds.MAX_TEACHER_TOKENS
    )


class ChunkingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    size: int = Field(bounds.CHUNK_SIZE, ge=bounds.MIN_CHUNK_SIZE, le=bounds.MAX_CHUNK_SIZE)
    overlap: int = Field(bounds.CHUNK_OVERLAP, ge=0)
    unit: bounds.ChunkUnit = "chars"

    @model_validator(mode="after")
    def _overlap_below_size(self) -> ChunkingIn:
        if self.overlap >= self.size:
            raise ValueError("chunking.overlap must be smaller than chunking.size")
        return self


class CreateDatagenJobRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    file_ids: list[str] = Field(min_length=1, max_length=bounds.MAX_FILES)  # purpose datagen
    teacher: TeacherIn | None = None  # None: the first base model the gateway serves
    language: bounds.Language = "zh-TW"
    mode: bounds.Mode = "grounded"
    questions_per_chunk: int = Field(
        bounds.QUESTIONS_PER_CHUNK, ge=1, le=bounds.MAX_QUESTIONS_PER_CHUNK
    )
    phrasings_per_answer: int = Field(
        bounds.PHRASINGS_PER_ANSWER, ge=1, le=bounds.MAX_PHRASINGS_PER_ANSWER
    )
    chunking: ChunkingIn = Field(default_factory=ChunkingIn)
    max_chunks: int | None = Field(None, ge=1)
    reasoning: bool = False
    scorer: bounds.Scorer = "auto"
    min_score: float = Field(bounds.MIN_SCORE, ge=0, le=bounds.MAX_SCORE)
    refine: bool = True
    dedupe_threshold: float = Field(bounds.DEDUPE_THRESHOLD, gt=0, le=1)
    eval_fraction: float = Field(bounds.EVAL_FRACTION, ge=0, lt=1)
    export_format: bounds.ExportFormat = "alpaca"
    concurrency: int = Field(bounds.CONCURRENCY, ge=1, le=bounds.MAX_CONCURRENCY)
    seed: int = 0

    def to_pb(self, api_key: str) -> datagen_pb2.DatagenJobSpec:
        """The typed spec of this request (its teacher already chosen); `api_key` is the
        caller's, for a teacher the gateway itself serves."""
        assert self.teacher is not None
        teacher = self.teacher
        return datagen_pb2.DatagenJobSpec(
            file_ids=self.file_ids,
            teacher=datagen_pb2.DatagenTeacher(
                model=teacher.model,
                base_url=teacher.base_url,
                api_key=teacher.api_key if teacher.base_url is not None else api_key,
                timeout_s=teacher.timeout_s,
                max_tokens=teacher.max_tokens,
            ),
            language=self.language,
            mode=self.mode,
            questions_per_chunk=self.questions_per_chunk,
            phrasings_per_answer=self.phrasings_per_answer,
            chunking=datagen_pb2.Chunking(
                size=self.chunking.size, overlap=self.chunking.overlap, unit=self.chunking.unit
            ),
            max_chunks=self.max_chunks,
            reasoning=self.reasoning,
            scorer=self.scorer,
            min_score=self.min_score,
            refine=self.refine,
            dedupe_threshold=self.dedupe_threshold,
            eval_fraction=self.eval_fraction,
            export_format=self.export_format,
            concurrency=self.concurrency,
            seed=self.seed,
        )


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
