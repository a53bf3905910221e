"""Metric functions by name, and `score()`, which runs a list of them over predictions
and references. Every metric takes the prepared pairs and returns a `MetricResult`.

Two scoring modes: `language_aware` scores each pair by its language's conventions
(`similarity`); `llamafactory` gives the columns `bleu-4`, `rouge-1`, `rouge-2` and
`rouge-l` LLaMA-Factory's values (`llamafactory`: every pair as Chinese, rounded per pair)
and keeps the language-aware values beside them as `bleu-4 (language-aware)` and so on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from types import MappingProxyType
from typing import Literal, get_args

from services.evaluator.metrics import llamafactory
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
Scoring = Literal["language_aware", "llamafactory"]
SCORINGS: tuple[Scoring, ...] = get_args(Scoring)
LANGUAGE_AWARE_SUFFIX = " (language-aware)"


def language_aware_name(metric: str) -> str:
    """The column that keeps a metric's language-aware value in the `llamafactory` mode."""
    return f"{metric}{LANGUAGE_AWARE_SUFFIX}"


def metric_columns(metrics: Iterable[str], scoring: Scoring) -> list[str]:
    """The columns `score()` returns for these metric names: the names, in order, then (in
    the `llamafactory` mode) the language-aware twin of each of LLaMA-Factory's four."""
    names = list(dict.fromkeys(metrics)) or list(DEFAULT_METRICS)
    if scoring != "llamafactory":
        return names
    return names + [language_aware_name(n) for n in names if n in llamafactory.METRICS]


def score(
    predictions: Sequence[str],
    references: Sequence[str],
    metrics: Iterable[str] = DEFAULT_METRICS,
    *,
    normalize: Normalization | None = None,
    language: LanguageChoice = "auto",
    scoring: Scoring = "language_aware",
) -> dict[str, MetricResult]:
    """Each named metric over the pairs (`predictions[i]`, `references[i]`), keyed by the
    columns of `metric_columns()`.

    `normalize="opencc"` converts both sides to Traditional Chinese first; `language`
    forces one language's conventions instead of detecting them per pair (it does not
    change LLaMA-Factory's values in the `llamafactory` mode, only their twins).
    """
    names = list(dict.fromkeys(metrics)) or list(DEFAULT_METRICS)
    unknown = [name for name in names if name not in METRICS]
    if unknown:
        raise InvalidRequestError(
            f"unknown metrics {unknown}; known: {sorted(METRICS)}", param="metrics"
        )
    if scoring not in SCORINGS:
        raise InvalidRequestError(f"scoring must be one of {SCORINGS}", param="scoring")
    pairs = prepare_pairs(predictions, references, normalize=normalize, language=language)
    results = {name: METRICS[name](pairs) for name in names}
    if scoring == "language_aware":
        return results
    twins = [name for name in names if name in llamafactory.METRICS]
    headline = {
        name: llamafactory.METRICS[name](pairs) if name in twins else results[name]
        for name in names
    }
    kept = {
        language_aware_name(name): replace(results[name], name=language_aware_name(name))
        for name in twins
    }
    return headline | kept
