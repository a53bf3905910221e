"""Exact match and token-level precision, recall and F1 (SQuAD's definitions; Chinese at
character level as in CMRC 2018). Tokens come from `tokens.answer_tokens`: lower case, no
punctuation, so "公文。" matches "公文" and "The answer" matches "answer". ×100; the corpus
value is the mean over pairs."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from services.evaluator.metrics.pairs import ScoredPair
from services.evaluator.metrics.results import MetricResult, averaged
from services.evaluator.metrics.tokens import answer_tokens


@dataclass(frozen=True)
class TokenOverlap:
    precision: float
    recall: float
    f1: float


def exact_match(pair: ScoredPair) -> float:
    """100 when both sides have the same normalised tokens, else 0."""
    same = answer_tokens(pair.prediction, pair.language) == answer_tokens(
        pair.reference, pair.language
    )
    return 100.0 if same else 0.0


def token_overlap(pair: ScoredPair) -> TokenOverlap:
    """Bag-of-tokens overlap ×100. When either side has no tokens, all three are 100 if
    both are empty and 0 otherwise (SQuAD's rule for unanswerable questions)."""
    predicted = answer_tokens(pair.prediction, pair.language)
    expected = answer_tokens(pair.reference, pair.language)
    if not predicted or not expected:
        value = 100.0 if predicted == expected else 0.0
        return TokenOverlap(value, value, value)
    common = sum((Counter(predicted) & Counter(expected)).values())
    if common == 0:
        return TokenOverlap(0.0, 0.0, 0.0)
    precision = common / len(predicted)
    recall = common / len(expected)
    f1 = 2 * precision * recall / (precision + recall)
    return TokenOverlap(precision * 100, recall * 100, f1 * 100)


def exact_match_metric(pairs: Sequence[ScoredPair]) -> MetricResult:
    return averaged("exact_match", [exact_match(pair) for pair in pairs])


def token_f1_metric(pairs: Sequence[ScoredPair]) -> MetricResult:
    return averaged("token_f1", [token_overlap(pair).f1 for pair in pairs])


def token_precision_metric(pairs: Sequence[ScoredPair]) -> MetricResult:
    return averaged("token_precision", [token_overlap(pair).precision for pair in pairs])


def token_recall_metric(pairs: Sequence[ScoredPair]) -> MetricResult:
    return averaged("token_recall", [token_overlap(pair).recall for pair in pairs])
