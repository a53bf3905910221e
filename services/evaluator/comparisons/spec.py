"""What a comparison job asks for: its typed spec (`tuneloop.evaluator.v1.ComparisonJobSpec`),
read when the worker takes the job."""

from __future__ import annotations

from dataclasses import dataclass

from tuneloop.evaluator.v1 import evaluator_pb2
from tuneloop_core.jobspecs import comparison


@dataclass(frozen=True)
class ComparisonSpec:
    models: list[str]
    questions: list[str]
    max_tokens: int
    temperature: float
    top_p: float
    system: str  # empty: no system message


def from_pb(spec: evaluator_pb2.ComparisonJobSpec) -> ComparisonSpec:
    """The spec, checked with the gateway's bounds (a bad one is a stale or forged job)."""
    comparison.check(spec)
    return ComparisonSpec(
        models=list(spec.models),
        questions=list(spec.questions),
        max_tokens=spec.max_tokens,
        temperature=spec.temperature,
        top_p=spec.top_p,
        system=spec.system,
    )
