"""One grader's verdict on one sample: OpenAI's six grader types over an item and a sample.

A grade never raises for something the item or the grader's own code did (a missing field,
a python grader that loops, a model grader that cannot answer): it comes back with `error`
set and counts as failed, and the run goes on with the next item. What does raise is what
stops every item alike (the inference service gone for good), which fails the job."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import json_format, struct_pb2

from services.evaluator.graders import model_graders
from services.evaluator.graders.sandbox import SandboxLimits, run_python
from services.evaluator.graders.similarity import text_similarity
from services.evaluator.graders.templates import TemplateError, render
from tuneloop.evaluator.v1 import evals_pb2
from tuneloop.inference.v1 import inference_pb2, inference_pb2_grpc
from tuneloop_core import formula
from tuneloop_core.errors import InvalidRequestError, NotFoundError
from tuneloop_core.grpc.client import call

DEFAULT_PASS_THRESHOLD = 1.0  # python and multi graders, as OpenAI's
# Sandboxed python graders at once per run: each is a process of its own (~20 MB, 50 ms).
PYTHON_AT_ONCE = 4


@dataclass
class Grade:
    name: str
    type: str
    score: float = 0.0
    passed: bool = False
    error: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    sub_scores: dict[str, float] = field(default_factory=dict)
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def to_pb(self) -> evals_pb2.GraderResult:
        metadata = struct_pb2.Struct()
        metadata.update(self.metadata)
        return evals_pb2.GraderResult(
            name=self.name,
            type=self.type,
            score=self.score,
            passed=self.passed,
            error=self.error,
            metadata=metadata,
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "type": self.type,
            "score": self.score,
            "passed": self.passed,
            "metadata": self.metadata,
        }
        if self.error:
            out["error"] = self.error
        return out


def struct_dict(value: struct_pb2.Struct) -> dict[str, Any]:
    return json_format.MessageToDict(value)


def _threshold(message: Any, default: float) -> float:
    return message.pass_threshold if message.HasField("pass_threshold") else default


class Grader:
    """Grades samples for one tenant: model graders ask the inference service as that
    tenant (so they see exactly the models the tenant sees)."""

    def __init__(
        self,
        inference: inference_pb2_grpc.InferenceServiceAsyncStub,
        tenant_id: str,
        limits: SandboxLimits | None = None,
    ):
        self.inference = inference
        self.tenant_id = tenant_id
        self.limits = limits or SandboxLimits()
        self._python_slots = asyncio.Semaphore(PYTHON_AT_ONCE)

    async def grade(
        self, grader: evals_pb2.Grader, item: Mapping[str, Any], sample: Mapping[str, Any]
    ) -> Grade:
        kind = grader.WhichOneof("kind") or "unknown"
        grade = Grade(name=grader.name, type=kind)
        try:
            await self._grade(grader, kind, item, sample, grade)
        except (TemplateError, ValueError) as exc:
            grade.error = str(exc)
        except (InvalidRequestError, NotFoundError) as exc:
            # A model grader's model the tenant cannot see, a prompt the engine refuses, a
            # formula that cannot be evaluated.
            grade.error = exc.message
        if grade.error:
            grade.score, grade.passed = 0.0, False
        return grade

    async def _grade(
        self,
        grader: evals_pb2.Grader,
        kind: str,
        item: Mapping[str, Any],
        sample: Mapping[str, Any],
        grade: Grade,
    ) -> None:
        if kind == "string_check":
            check = grader.string_check
            grade.passed = string_check(
                render(check.input, item, sample),
                render(check.reference, item, sample),
                check.operation,
            )
            grade.score = float(grade.passed)
        elif kind == "text_similarity":
            similar = grader.text_similarity
            output = render(similar.input, item, sample)
            reference = render(similar.reference, item, sample)
            if similar.evaluation_metric == "cosine":
                grade.score, grade.metadata = await self._cosine(output, reference)
            else:
                found = text_similarity(similar.evaluation_metric, output, reference)
                grade.score, grade.metadata = found.score, dict(found.metadata)
            grade.passed = grade.score >= similar.pass_threshold
        elif kind in ("score_model", "label_model"):
            judged = await model_graders.judge(self.inference, self.tenant_id, grader, item, sample)
            grade.score, grade.passed = judged.score, judged.passed
            grade.metadata = judged.metadata
            grade.prompt_tokens, grade.completion_tokens = (
                judged.prompt_tokens,
                judged.completion_tokens,
            )
        elif kind == "python":
            outcome = await run_python(grader.python.source, dict(sample), dict(item), self.limits)
            grade.metadata = {"execution_ms": round(outcome.duration_ms, 1)}
            if outcome.error is not None or outcome.score is None:
                raise ValueError(outcome.error or "the python grader returned no score")
            grade.score = outcome.score
            grade.passed = grade.score >= _threshold(grader.python, DEFAULT_PASS_THRESHOLD)
        elif kind == "multi":
            await self._multi(grader.multi, item, sample, grade)
        else:
            raise ValueError(f"unknown grader type {kind}")

    async def _multi(
        self,
        multi: evals_pb2.MultiGrader,
        item: Mapping[str, Any],
        sample: Mapping[str, Any],
        grade: Grade,
    ) -> None:
        names = sorted(multi.graders)
        subs = await asyncio.gather(*(self.grade(multi.graders[n], item, sample) for n in names))
        grade.sub_scores = {sub_name: sub.score for sub_name, sub in zip(names, subs, strict=True)}
        grade.metadata = {"sub_grades": [sub.to_json() for sub in subs]}
        grade.prompt_tokens = sum(sub.prompt_tokens for sub in subs)
        grade.completion_tokens = sum(sub.completion_tokens for sub in subs)
        failed = [sub for sub in subs if sub.error]
        if failed:
            raise ValueError(f"grader '{failed[0].name}' failed: {failed[0].error}")
        grade.score = formula.evaluate(multi.calculate_output, grade.sub_scores)
        grade.passed = grade.score >= _threshold(multi, DEFAULT_PASS_THRESHOLD)

    async def _cosine(self, output: str, reference: str) -> tuple[float, dict[str, Any]]:
        """Cosine similarity of the two texts' embeddings from the served embedding model."""
        reply = await call(
            self.inference.Embed,
            inference_pb2.EmbedRequest(texts=[output, reference], normalize=True),
        )
        a, b = (list(e.values) for e in reply.embeddings)
        norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
        score = sum(x * y for x, y in zip(a, b, strict=True)) / norm if norm else 0.0
        return max(0.0, min(1.0, score)), {"embedding_model": reply.model}


def string_check(output: str, reference: str, operation: str) -> bool:
    """OpenAI's string_check: eq, ne, like (contains), ilike (contains, any case)."""
    if operation == "eq":
        return output == reference
    if operation == "ne":
        return output != reference
    if operation == "like":
        return reference in output
    if operation == "ilike":
        return reference.casefold() in output.casefold()
    raise ValueError(f"unknown string_check operation {operation!r}")
