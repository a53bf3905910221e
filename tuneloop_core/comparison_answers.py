"""The answers file of a comparison: the evaluator writes it, the gateway reads it.

It lives in the artifact store rather than in the job result because a full matrix
(hundreds of questions × several models × hundreds of tokens) can outgrow a NATS message.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any

from tuneloop_core import layout
from tuneloop_core.artifacts import ArtifactStore
from tuneloop_core.errors import InternalError

FORMAT_VERSION = 1


@dataclass(frozen=True)
class ComparisonAnswers:
    """`answers[q][m]` is model `models[m]`'s answer to `questions[q]`."""

    models: list[str]
    questions: list[str]
    answers: list[list[str]]

    def to_json(self) -> dict[str, Any]:
        return {
            "version": FORMAT_VERSION,
            "models": self.models,
            "questions": self.questions,
            "answers": self.answers,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ComparisonAnswers:
        if data.get("version") != FORMAT_VERSION:
            raise InternalError(f"unknown comparison answers version {data.get('version')!r}")
        models = [str(m) for m in data["models"]]
        questions = [str(q) for q in data["questions"]]
        answers = [[str(a) for a in row] for row in data["answers"]]
        if len(answers) != len(questions) or any(len(row) != len(models) for row in answers):
            raise InternalError("comparison answers do not match its questions and models")
        return cls(models=models, questions=questions, answers=answers)


def write_answers(store: ArtifactStore, comparison_id: str, answers: ComparisonAnswers) -> str:
    """Store the answers atomically; returns their path relative to the store."""
    relpath = layout.comparison_answers(comparison_id)
    body = json.dumps(answers.to_json(), ensure_ascii=False, indent=1).encode()
    store.write(relpath, io.BytesIO(body))
    return relpath


def read_answers(store: ArtifactStore, relpath: str) -> ComparisonAnswers:
    with store.open(relpath) as handle:
        return ComparisonAnswers.from_json(json.load(handle))
