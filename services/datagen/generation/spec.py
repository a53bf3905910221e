"""What a datagen job asks for: its typed spec (`tuneloop.datagen.v1.DatagenJobSpec`), read
when the worker takes the job and checked with the bounds the gateway used."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.datagen.documents.chunk import ChunkingOptions
from tuneloop.datagen.v1 import datagen_pb2
from tuneloop_core.errors import InvalidRequestError
from tuneloop_core.jobspecs import datagen as bounds

Language = bounds.Language
ExportFormat = bounds.ExportFormat
Mode = bounds.Mode
Scorer = bounds.Scorer


class Teacher(BaseModel):
    """Any OpenAI-compatible chat endpoint; the gateway itself when `base_url` is None."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1)
    base_url: str | None = None
    api_key: str | None = None
    timeout_s: float = Field(bounds.TIMEOUT_S, gt=0, le=bounds.MAX_TIMEOUT_S)
    max_retries: int = Field(2, ge=0, le=10)  # HTTP errors and timeouts (the SDK retries)
    json_retries: int = Field(2, ge=0, le=10)  # re-asks after an answer that is not JSON
    max_tokens: int | None = Field(  # per answer; None: the endpoint's
        None, ge=bounds.MIN_TEACHER_TOKENS, le=bounds.MAX_TEACHER_TOKENS
    )


class DatagenSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    file_ids: list[str] = Field(min_length=1, max_length=bounds.MAX_FILES)
    teacher: Teacher
    language: Language = "zh-TW"
    mode: Mode = "grounded"
    questions_per_chunk: int = Field(
        bounds.QUESTIONS_PER_CHUNK, ge=1, le=bounds.MAX_QUESTIONS_PER_CHUNK
    )
    phrasings_per_answer: int = Field(
        bounds.PHRASINGS_PER_ANSWER, ge=1, le=bounds.MAX_PHRASINGS_PER_ANSWER
    )
    chunking: ChunkingOptions = Field(default_factory=ChunkingOptions)
    max_chunks: int | None = Field(None, ge=1)  # a cap, for quick runs
    reasoning: bool = False  # ask for a short reasoning with each answer
    scorer: Scorer = "auto"
    min_score: float = Field(bounds.MIN_SCORE, ge=0, le=bounds.MAX_SCORE)
    refine: bool = True  # low-scored pairs are rewritten once and re-scored
    dedupe_threshold: float = Field(bounds.DEDUPE_THRESHOLD, gt=0, le=1)
    eval_fraction: float = Field(bounds.EVAL_FRACTION, ge=0, lt=1)
    export_format: ExportFormat = "alpaca"
    concurrency: int = Field(bounds.CONCURRENCY, ge=1, le=bounds.MAX_CONCURRENCY)
    seed: int = 0

    @property
    def resolved_scorer(self) -> Literal["judge", "likelihood"]:
        if self.scorer != "auto":
            return self.scorer
        return "likelihood" if self.teacher.base_url is None else "judge"


def from_pb(spec: datagen_pb2.DatagenJobSpec) -> DatagenSpec:
    """The worker's spec, checked with the gateway's bounds (a bad one is a stale or forged
    job)."""
    teacher, chunking = spec.teacher, spec.chunking
    fields: dict[str, Any] = {
        "file_ids": list(spec.file_ids),
        "teacher": {
            "model": teacher.model,
            "base_url": teacher.base_url if teacher.HasField("base_url") else None,
            "api_key": teacher.api_key if teacher.HasField("api_key") else None,
            "timeout_s": teacher.timeout_s,
            "max_tokens": teacher.max_tokens if teacher.HasField("max_tokens") else None,
        },
        "language": spec.language,
        "mode": spec.mode,
        "questions_per_chunk": spec.questions_per_chunk,
        "phrasings_per_answer": spec.phrasings_per_answer,
        "chunking": {"size": chunking.size, "overlap": chunking.overlap, "unit": chunking.unit},
        "max_chunks": spec.max_chunks if spec.HasField("max_chunks") else None,
        "reasoning": spec.reasoning,
        "scorer": spec.scorer,
        "min_score": spec.min_score,
        "refine": spec.refine,
        "dedupe_threshold": spec.dedupe_threshold,
        "eval_fraction": spec.eval_fraction,
        "export_format": spec.export_format,
        "concurrency": spec.concurrency,
        "seed": spec.seed,
    }
    try:
        return DatagenSpec.model_validate(fields)
    except ValidationError as exc:
        raise InvalidRequestError(f"bad datagen spec: {exc}") from exc
