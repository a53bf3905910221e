"""What a datagen job asks for (the gateway validates it; the worker reads it back)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from services.datagen.documents.chunk import ChunkingOptions

Language = Literal["zh-TW", "en"]
ExportFormat = Literal["alpaca", "sharegpt", "openai"]
# grounded: answers are sentences of the chunk, the teacher writes questions for them under
# a grammar of the chunk's words; free: the teacher writes whole pairs.
Mode = Literal["grounded", "free"]
# How a pair is scored 0–5: judge: the teacher rates it under a rubric (needs a capable
# model); likelihood: whether the question makes its own answer likelier than the other
# answers of its document (any model that scores text; see `likelihood`); auto:
# likelihood for the served teacher (the bundled models rate every pair alike), judge for
# an external endpoint.
Scorer = Literal["auto", "judge", "likelihood"]


class Teacher(BaseModel):
    """Any OpenAI-compatible chat endpoint; the gateway itself when `base_url` is None."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1)
    base_url: str | None = None
    api_key: str | None = None
    timeout_s: float = Field(120.0, gt=0, le=3600)
    max_retries: int = Field(2, ge=0, le=10)  # HTTP errors and timeouts (the SDK retries)
    json_retries: int = Field(2, ge=0, le=10)  # re-asks after an answer that is not JSON
    max_tokens: int | None = Field(None, ge=16, le=32_768)  # per answer; None: the endpoint's


class DatagenSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    file_ids: list[str] = Field(min_length=1, max_length=200)
    teacher: Teacher
    language: Language = "zh-TW"
    mode: Mode = "grounded"
    questions_per_chunk: int = Field(3, ge=1, le=20)  # free mode: pairs asked per chunk
    # grounded mode: questions per answer sentence (many phrasings per fact is what makes
    # tuning generalise; ones the near-duplicate filter finds too alike are dropped)
    phrasings_per_answer: int = Field(3, ge=1, le=10)
    chunking: ChunkingOptions = Field(default_factory=ChunkingOptions)
    max_chunks: int | None = Field(None, ge=1)  # a cap, for quick runs
    reasoning: bool = False  # ask for a short reasoning with each answer
    scorer: Scorer = "auto"
    min_score: float = Field(3.0, ge=0, le=5)  # score below which a pair is dropped
    refine: bool = True  # low-scored pairs are rewritten once and re-scored
    dedupe_threshold: float = Field(0.8, gt=0, le=1)  # MinHash Jaccard of near-duplicates
    eval_fraction: float = Field(0.1, ge=0, lt=1)
    export_format: ExportFormat = "alpaca"
    concurrency: int = Field(4, ge=1, le=64)  # teacher calls in flight
    seed: int = 0

    @property
    def resolved_scorer(self) -> Literal["judge", "likelihood"]:
        if self.scorer != "auto":
            return self.scorer
        return "likelihood" if self.teacher.base_url is None else "judge"
