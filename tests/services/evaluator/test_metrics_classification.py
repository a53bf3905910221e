"""Accuracy and label precision/recall/F1, macro and per label, on a confusion example
counted by hand (and checked against scikit-learn where it is installed)."""

from __future__ import annotations

import pytest

from services.evaluator.metrics import score
from services.evaluator.metrics.classification import classification_report

REFERENCES = ["cat", "cat", "cat", "dog", "dog", "bird"]
PREDICTIONS = ["cat", " cat\n", "dog", "dog", "bird", "bird"]  # whitespace is ignored
# Counted by hand:         true positives / predicted / actual
#   cat:  2 / 2 / 3  →  P 1,    R 2/3,  F1 0.8
#   dog:  1 / 2 / 2  →  P 1/2,  R 1/2,  F1 1/2
#   bird: 1 / 2 / 1  →  P 1/2,  R 1,    F1 2/3
HAND = {
    "cat": (100.0, 200 / 3, 80.0, 3),
    "dog": (50.0, 50.0, 50.0, 2),
    "bird": (50.0, 100.0, 200 / 3, 1),
}


def test_per_label_and_macro_scores_match_the_hand_count() -> None:
    report = classification_report(PREDICTIONS, REFERENCES)
    assert list(report.per_label) == ["bird", "cat", "dog"]
    for label, (precision, recall, f1, support) in HAND.items():
        scores = report.per_label[label]
        assert (scores.precision, scores.recall, scores.f1) == pytest.approx(
            (precision, recall, f1)
        )
        assert scores.support == support
    assert report.accuracy == pytest.approx(400 / 6)
    assert report.macro_precision == pytest.approx((100 + 50 + 50) / 3)
    assert report.macro_recall == pytest.approx((200 / 3 + 50 + 100) / 3)
    assert report.macro_f1 == pytest.approx((80 + 50 + 200 / 3) / 3)


def test_registry_reports_macro_values_with_per_label_breakdown() -> None:
    results = score(
        PREDICTIONS, REFERENCES, ["label_f1", "label_precision", "label_recall", "accuracy"]
    )
    assert results["label_f1"].corpus == pytest.approx((80 + 50 + 200 / 3) / 3)
    assert dict(results["label_f1"].breakdown) == pytest.approx(
        {label: values[2] for label, values in HAND.items()}
    )
    assert results["label_precision"].breakdown["cat"] == pytest.approx(100.0)
    assert results["label_recall"].breakdown["bird"] == pytest.approx(100.0)
    assert results["accuracy"].corpus == pytest.approx(400 / 6)
    assert results["accuracy"].per_example == (100.0, 100.0, 0.0, 100.0, 0.0, 100.0)


def test_invented_labels_and_unpredicted_labels() -> None:
    # "fish" is not a reference label: it costs cat a recall point but adds no class.
    report = classification_report(["fish", "cat"], ["cat", "cat"])
    assert list(report.per_label) == ["cat"]
    assert report.macro_recall == pytest.approx(50.0)
    assert report.macro_precision == pytest.approx(100.0)
    # A fixed label set may name a label nobody predicted: its ratios count as 0.
    fixed = classification_report(["cat", "cat"], ["cat", "cat"], labels=["cat", "dog"])
    assert fixed.per_label["dog"].f1 == 0.0
    assert fixed.macro_f1 == pytest.approx(50.0)


def test_agrees_with_scikit_learn_when_installed() -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    labels = sorted(HAND)
    expected = [p.strip() for p in PREDICTIONS]
    precision, recall, f1, support = metrics.precision_recall_fscore_support(
        REFERENCES, expected, labels=labels, zero_division=0
    )
    report = classification_report(PREDICTIONS, REFERENCES)
    for i, label in enumerate(labels):
        scores = report.per_label[label]
        assert scores.precision == pytest.approx(precision[i] * 100, abs=1e-9)
        assert scores.recall == pytest.approx(recall[i] * 100, abs=1e-9)
        assert scores.f1 == pytest.approx(f1[i] * 100, abs=1e-9)
        assert scores.support == support[i]
    macro_f1 = metrics.f1_score(REFERENCES, expected, labels=labels, average="macro")
    assert report.macro_f1 == pytest.approx(macro_f1 * 100, abs=1e-9)
    assert report.accuracy == pytest.approx(metrics.accuracy_score(REFERENCES, expected) * 100)
