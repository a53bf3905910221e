"""BLEU-4 and ROUGE-1/2/L per pair, with LLaMA-Factory's conventions for Chinese so the
numbers compare with its `predict_with_generate` reports:

- ROUGE: F-score of `rouge-chinese` over jieba words; 0 when either side has no words.
- BLEU-4: NLTK `sentence_bleu` over characters, smoothing method 3.

English pairs get ROUGE F-scores from Google's `rouge-score` (Porter stemming; ROUGE-L at
sentence level) and the same NLTK BLEU over word tokens. All scores are ×100; the corpus
value is the mean over pairs. LLaMA-Factory rounds each pair's score to 4 decimals before
averaging; here nothing is rounded (the difference is below 5e-5). The `llamafactory`
scoring mode (`llamafactory.py`) rounds, and scores every pair the Chinese way.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache, lru_cache
from typing import Any, Literal

from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu
from rouge_chinese import Rouge
from rouge_score import rouge_scorer

from services.evaluator.metrics.pairs import ScoredPair
from services.evaluator.metrics.results import MetricFn, MetricResult, averaged
from services.evaluator.metrics.tokens import characters, jieba_words, words

RougeVariant = Literal["rouge-1", "rouge-2", "rouge-l"]
ROUGE_VARIANTS: tuple[RougeVariant, ...] = ("rouge-1", "rouge-2", "rouge-l")
_ROUGE_SCORE_KEYS = ("rouge1", "rouge2", "rougeL")  # rouge-score's names, same order


@cache
def _english_scorer() -> Any:
    return rouge_scorer.RougeScorer(list(_ROUGE_SCORE_KEYS), use_stemmer=True)


# The three ROUGE metrics are registered separately but share one computation per pair.
@lru_cache(maxsize=16_384)
def _rouge_f_scores(prediction: str, reference: str, chinese: bool) -> tuple[float, ...]:
    if chinese:
        hypothesis = " ".join(jieba_words(prediction))
        target = " ".join(jieba_words(reference))
        if not hypothesis.split() or not target.split():
            return (0.0,) * len(ROUGE_VARIANTS)
        scores = Rouge().get_scores(hypothesis, target)[0]
        return tuple(float(scores[name]["f"]) * 100 for name in ROUGE_VARIANTS)
    found = _english_scorer().score(reference, prediction)
    return tuple(float(found[key].fmeasure) * 100 for key in _ROUGE_SCORE_KEYS)


def rouge_f(pair: ScoredPair, variant: RougeVariant) -> float:
    """One ROUGE F-score ×100 of one pair."""
    scores = _rouge_f_scores(pair.prediction, pair.reference, pair.language == "zh")
    return scores[ROUGE_VARIANTS.index(variant)]


def bleu_4(pair: ScoredPair) -> float:
    """Smoothed sentence BLEU-4 ×100 of one pair (characters for Chinese, words else)."""
    units = characters if pair.language == "zh" else words
    score = sentence_bleu(
        [units(pair.reference)],
        units(pair.prediction),
        smoothing_function=SmoothingFunction().method3,
    )
    return float(score) * 100


def bleu_4_metric(pairs: Sequence[ScoredPair]) -> MetricResult:
    return averaged("bleu-4", [bleu_4(pair) for pair in pairs])


def rouge_metric(variant: RougeVariant) -> MetricFn:
    def compute(pairs: Sequence[ScoredPair]) -> MetricResult:
        return averaged(variant, [rouge_f(pair, variant) for pair in pairs])

    return compute
