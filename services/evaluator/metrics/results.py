"""What every metric returns."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from math import fsum
from types import MappingProxyType

from services.evaluator.metrics.pairs import ScoredPair


@dataclass(frozen=True)
class MetricResult:
    """One metric over a set of pairs. Scores are on a 0–100 scale.

    `corpus` is the reported value: the mean of `per_example` for the LLaMA-Factory-style
    metrics, sacrebleu's own corpus BLEU for `sacrebleu`, the macro average for label
    metrics. `breakdown` holds per-label values for the label metrics (empty otherwise).
    """

    name: str
    corpus: float
    per_example: tuple[float, ...]
    breakdown: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))


MetricFn = Callable[[Sequence[ScoredPair]], MetricResult]


def mean(values: Sequence[float]) -> float:
    return fsum(values) / len(values) if values else 0.0


def averaged(name: str, per_example: Sequence[float]) -> MetricResult:
    """A metric whose corpus value is the mean over pairs (LLaMA-Factory's convention)."""
    return MetricResult(name, mean(per_example), tuple(per_example))
