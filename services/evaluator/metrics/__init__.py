"""Scores of model answers against reference answers (BLEU, ROUGE, exact match, token and
label F1), and perplexity of a model on reference answers (`metrics.perplexity`, which
needs torch)."""

from services.evaluator.metrics.registry import (
    DEFAULT_METRICS,
    METRICS,
    Scoring,
    metric_columns,
    score,
)
from services.evaluator.metrics.results import MetricResult

__all__ = [
    "DEFAULT_METRICS",
    "METRICS",
    "MetricResult",
    "Scoring",
    "metric_columns",
    "score",
]
