"""Metric functions by name, and `score()`, which runs a list of them over predictions
and references. Every metric takes the prepared pairs and returns a `MetricResult`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType

from services.evaluator.metrics.classification import (
    accuracy_metric,
    label_f1_metric,
    label_precision_metric,
    label_recall_metric,
)
from services.evaluator.metrics.corpus_bleu import sacrebleu_metric
from services.evaluator.metrics.language import LanguageChoice
from services.evaluator.metrics.normalize import Normalization
from services.evaluator.metrics.overlap import (
    exact_match_metric,
    token_f1_metric,
    token_precision_metric,
    token_recall_metric,
)
from services.evaluator.metrics.pairs import prepare_pairs
from services.evaluator.metrics.results import MetricFn, MetricResult
from services.evaluator.metrics.similarity import bleu_4_metric, rouge_metric
from tuneloop_core.errors import InvalidRequestError

METRICS: Mapping[str, MetricFn] = MappingProxyType(
    {
        "bleu-4": bleu_4_metric,
        "rouge-1": rouge_metric("rouge-1"),
        "rouge-2": rouge_metric("rouge-2"),
        "rouge-l": rouge_metric("rouge-l"),
        "sacrebleu": sacrebleu_metric,
        "exact_match": exact_match_metric,
        "token_f1": token_f1_metric,
        "token_precision": token_precision_metric,
        "token_recall": token_recall_metric,
        "accuracy": accuracy_metric,
        "label_f1": label_f1_metric,
        "label_precision": label_precision_metric,
        "label_recall": label_recall_metric,
    }
)
# What an evaluation reports when it names no metrics: LLaMA-Factory's four, corpus BLEU
# and the answer-overlap scores. Label metrics only make sense for classification sets.
DEFAULT_METRICS = (
    "bleu-4",
    "rouge-1",
    "rouge-2",
    "rouge-l",
    "sacrebleu",
    "exact_match",
    "token_f1",
)


def score(
    predictions: Sequence[str],
    references: Sequence[str],
    metrics: Iterable[str] = DEFAULT_METRICS,
    *,
    normalize: Normalization | None = None,
    language: LanguageChoice = "auto",
) -> dict[str, MetricResult]:
    """Each named metric over the pairs (`predictions[i]`, `references[i]`).

    `normalize="opencc"` converts both sides to Traditional Chinese first; `language`
    forces one language's conventions instead of detecting them per pair.
    """
    names = list(dict.fromkeys(metrics)) or list(DEFAULT_METRICS)
    unknown = [name for name in names if name not in METRICS]
    if unknown:
        raise InvalidRequestError(
            f"unknown metrics {unknown}; known: {sorted(METRICS)}", param="metrics"
        )
    pairs = prepare_pairs(predictions, references, normalize=normalize, language=language)
    return {name: METRICS[name](pairs) for name in names}
