"""Request and object shapes of `/v1/comparisons` (side-by-side answers with votes)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from services.gateway.jobs.protocol import JobObject
from tuneloop_core.jobspecs import comparison as bounds
from tuneloop_core.jobspecs import sampling
from tuneloop_core.quantization import DEFAULT_QUANTIZATION


class CreateComparisonRequest(BaseModel):
    """Two or more models answer the same questions with the same generation settings.
    The questions are typed (`questions`) or an uploaded JSON array of strings
    (`questions_file`, a file id); exactly one of the two."""

    model_config = ConfigDict(extra="forbid")

    models: list[str] = Field(min_length=bounds.MIN_MODELS, max_length=bounds.MAX_MODELS)
    questions: list[str] | None = None
    questions_file: str | None = None
    max_tokens: int = Field(bounds.DEFAULT_MAX_TOKENS, ge=1, le=sampling.MAX_TOKENS)
    temperature: float = Field(sampling.DEFAULT_TEMPERATURE, ge=0, le=sampling.MAX_TEMPERATURE)
    top_p: float = Field(sampling.DEFAULT_TOP_P, gt=0, le=1)
    system: str | None = Field(None, max_length=bounds.MAX_SYSTEM_CHARS)


class Answer(BaseModel):
    model: str
    text: str
    votes: int


class ComparisonRow(BaseModel):
    """One question and every model's answer to it, in the order of `models`."""

    question_index: int
    question: str
    answers: list[Answer]


class ComparisonObject(JobObject):
    """The comparison job, plus its answers side by side once it has succeeded."""

    models: list[str]
    rows: list[ComparisonRow] | None = None
    votes_by_model: dict[str, int]


class VoteRequest(BaseModel):
    """A thumbs-up on one answer; `withdraw` takes the caller's thumbs-up back."""

    model_config = ConfigDict(extra="forbid")

    question_index: int = Field(ge=0)
    model: str = Field(min_length=1)
    withdraw: bool = False


class VoteObject(BaseModel):
    """Where the caller's key stands on one answer after a vote or a withdrawal."""

    object: Literal["comparison.vote"] = "comparison.vote"
    comparison_id: str
    question_index: int
    model: str
    voted: bool  # whether this key now has a thumbs-up on the answer
    votes: int  # the answer's thumbs-ups from every key


class VotedAnswer(BaseModel):
    question_index: int
    model: str


class QuestionVotes(BaseModel):
    question_index: int
    votes: dict[str, int]  # model → thumbs-ups on its answer to this question


class VoteTallies(BaseModel):
    object: Literal["comparison.votes"] = "comparison.votes"
    comparison_id: str
    total: int
    by_model: dict[str, int]
    by_question: list[QuestionVotes]
    yours: list[VotedAnswer]  # the answers the calling key voted for


class WorkspaceRequest(BaseModel):
    """Start an export of the model a person chose from the comparison."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1)
    quantization: str = Field(DEFAULT_QUANTIZATION, min_length=1, max_length=32)
