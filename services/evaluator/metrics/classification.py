"""Scores for classification-style datasets, where each answer is one label: accuracy and
label precision, recall and F1, per label and macro-averaged (the unweighted mean over
labels, as scikit-learn's `average="macro"`; a ratio with a zero denominator counts 0).

Labels are compared as strings with surrounding whitespace removed. By default the label
set is the labels found in the references: a label the model invents lowers the recall of
the true label but adds no class of its own to the macro average. ×100 throughout.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from math import fsum
from types import MappingProxyType

from services.evaluator.metrics.pairs import ScoredPair
from services.evaluator.metrics.results import MetricResult


@dataclass(frozen=True)
class LabelScores:
    precision: float
    recall: float
    f1: float
    support: int  # references with this label


@dataclass(frozen=True)
class ClassificationReport:
    accuracy: float
    macro_precision: float
    macro_recall: float
    macro_f1: float
    per_label: Mapping[str, LabelScores]


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else 0.0


def _label_scores(label: str, predicted: Sequence[str], expected: Sequence[str]) -> LabelScores:
    hits = sum(1 for p, e in zip(predicted, expected, strict=True) if p == e == label)
    precision = _ratio(hits, predicted.count(label))
    recall = _ratio(hits, expected.count(label))
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return LabelScores(precision * 100, recall * 100, f1 * 100, expected.count(label))


def classification_report(
    predictions: Sequence[str],
    references: Sequence[str],
    labels: Sequence[str] | None = None,
) -> ClassificationReport:
    """Accuracy and label scores; `labels` fixes the label set (default: the references')."""
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} references")
    predicted = [p.strip() for p in predictions]
    expected = [r.strip() for r in references]
    label_set = sorted(set(expected)) if labels is None else [label.strip() for label in labels]
    per_label = {label: _label_scores(label, predicted, expected) for label in label_set}
    count = len(label_set)
    correct = sum(1 for p, e in zip(predicted, expected, strict=True) if p == e)
    return ClassificationReport(
        accuracy=_ratio(correct, len(expected)) * 100,
        macro_precision=fsum(s.precision for s in per_label.values()) / count if count else 0.0,
        macro_recall=fsum(s.recall for s in per_label.values()) / count if count else 0.0,
        macro_f1=fsum(s.f1 for s in per_label.values()) / count if count else 0.0,
        per_label=MappingProxyType(per_label),
    )


def _report(pairs: Sequence[ScoredPair]) -> tuple[ClassificationReport, tuple[float, ...]]:
    predictions = [pair.prediction for pair in pairs]
    references = [pair.reference for pair in pairs]
    correct = tuple(
        100.0 if p.strip() == r.strip() else 0.0
        for p, r in zip(predictions, references, strict=True)
    )
    return classification_report(predictions, references), correct


def accuracy_metric(pairs: Sequence[ScoredPair]) -> MetricResult:
    report, correct = _report(pairs)
    return MetricResult("accuracy", report.accuracy, correct)


def label_precision_metric(pairs: Sequence[ScoredPair]) -> MetricResult:
    report, correct = _report(pairs)
    breakdown = {label: s.precision for label, s in report.per_label.items()}
    return MetricResult(
        "label_precision", report.macro_precision, correct, MappingProxyType(breakdown)
    )


def label_recall_metric(pairs: Sequence[ScoredPair]) -> MetricResult:
    report, correct = _report(pairs)
    breakdown = {label: s.recall for label, s in report.per_label.items()}
    return MetricResult("label_recall", report.macro_recall, correct, MappingProxyType(breakdown))


def label_f1_metric(pairs: Sequence[ScoredPair]) -> MetricResult:
    """Macro F1 as the corpus value, F1 per label in `breakdown`; per example: 100 when
    the predicted label is right."""
    report, correct = _report(pairs)
    breakdown = {label: s.f1 for label, s in report.per_label.items()}
    return MetricResult("label_f1", report.macro_f1, correct, MappingProxyType(breakdown))
