"""score_model and label_model: a served model grades, its answer constrained (#11's
structured outputs) so that even SmolLM2-135M gives a usable one: a score is JSON
`{"result": <number>}`, a label is exactly one of the labels."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from services.evaluator.generation import generate_completion
from services.evaluator.graders.templates import render
from tuneloop.evaluator.v1 import evals_pb2
from tuneloop.inference.v1 import inference_pb2, inference_pb2_grpc
from tuneloop_core.jobspecs.eval_run import DEFAULT_MAX_TOKENS

# {"result": -12.5} fits easily; the constraint ends the object well before this.
SCORE_MAX_TOKENS = 24


@dataclass
class Judged:
    score: float
    passed: bool
    metadata: dict[str, Any] = field(default_factory=dict)
    prompt_tokens: int = 0
    completion_tokens: int = 0


def score_schema(low: float, high: float) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"result": {"type": "number", "minimum": low, "maximum": high}},
        "required": ["result"],
        "additionalProperties": False,
    }


def sampling_pb(sampling: evals_pb2.EvalSampling, max_tokens: int) -> inference_pb2.SamplingParams:
    params = inference_pb2.SamplingParams(
        max_tokens=sampling.max_tokens or max_tokens,
        temperature=sampling.temperature,
        top_p=sampling.top_p or 1.0,
    )
    if sampling.HasField("seed"):
        params.seed = sampling.seed
    return params


def messages(
    template: Any, item: Mapping[str, Any], sample: Mapping[str, Any]
) -> list[inference_pb2.ChatMessage]:
    """The grader's prompt with its templates filled in ("developer" is a system turn)."""
    return [
        inference_pb2.ChatMessage(
            role="system" if m.role == "developer" else m.role,
            content=render(m.content, item, sample),
        )
        for m in template
    ]


async def judge(
    stub: inference_pb2_grpc.InferenceServiceAsyncStub,
    tenant_id: str,
    grader: evals_pb2.Grader,
    item: Mapping[str, Any],
    sample: Mapping[str, Any],
) -> Judged:
    """The model's grade. ValueError (an item error) when the answer is cut off."""
    if grader.WhichOneof("kind") == "score_model":
        spec: Any = grader.score_model
        low, high = (spec.range_min, spec.range_max)
        constraint = inference_pb2.OutputConstraint(json_schema=json.dumps(score_schema(low, high)))
        max_tokens = SCORE_MAX_TOKENS
    else:
        spec = grader.label_model
        constraint = inference_pb2.OutputConstraint(
            choice=inference_pb2.Choices(values=list(spec.labels))
        )
        max_tokens = DEFAULT_MAX_TOKENS
    request = inference_pb2.GenerateRequest(
        model=spec.model,
        messages=inference_pb2.ChatMessages(messages=messages(spec.input, item, sample)),
        sampling=sampling_pb(spec.sampling, max_tokens),
        request_id=f"grader-{uuid.uuid4().hex[:16]}",
        tenant_id=tenant_id,
        constraint=constraint,
    )
    answer = await generate_completion(stub, request)
    judged = Judged(
        score=0.0,
        passed=False,
        metadata={"model": spec.model, "output": answer.text},
        prompt_tokens=answer.prompt_tokens,
        completion_tokens=answer.completion_tokens,
    )
    if grader.WhichOneof("kind") == "score_model":
        try:
            value = float(json.loads(answer.text)["result"])
        except (ValueError, KeyError, TypeError):
            raise ValueError(
                f"the grader model's answer is not a score ({answer.finish_reason}): "
                f"{answer.text[:200]!r}"
            ) from None
        judged.score = min(max(value, low), high)
        threshold = spec.pass_threshold if spec.HasField("pass_threshold") else (low + high) / 2
        judged.passed = judged.score >= threshold
    else:
        label = answer.text.strip()
        if label not in spec.labels:
            raise ValueError(f"the grader model's answer is not one of the labels: {label!r}")
        judged.metadata["label"] = label
        judged.passed = label in spec.passing_labels
        judged.score = float(judged.passed)
    return judged
