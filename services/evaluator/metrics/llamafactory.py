"""BLEU-4 and ROUGE-1/2/L exactly as LLaMA-Factory's `ComputeSimilarity` computes them, for
the `llamafactory` scoring mode: every pair gets the Chinese conventions of `similarity`
whatever its language (ROUGE F of `rouge-chinese` over jieba words, 0 when either side has
none; NLTK BLEU-4 over characters, smoothing method 3), and each pair's score ×100 is
rounded to 4 decimals before the mean. An English pair is thus scored as LLaMA-Factory
scores it, so a `generated_predictions.jsonl` gets the numbers its own report printed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from types import MappingProxyType

from services.evaluator.metrics.pairs import ScoredPair
from services.evaluator.metrics.results import MetricFn, MetricResult, averaged
from services.evaluator.metrics.similarity import RougeVariant, bleu_4, rouge_f

# LLaMA-Factory keeps `round(score * 100, 4)` of every pair and averages those.
DECIMALS = 4


def _as_chinese(pair: ScoredPair) -> ScoredPair:
    return replace(pair, language="zh")


def bleu_4_metric(pairs: Sequence[ScoredPair]) -> MetricResult:
    return averaged("bleu-4", [round(bleu_4(_as_chinese(pair)), DECIMALS) for pair in pairs])


def rouge_metric(variant: RougeVariant) -> MetricFn:
    def compute(pairs: Sequence[ScoredPair]) -> MetricResult:
        scores = [round(rouge_f(_as_chinese(pair), variant), DECIMALS) for pair in pairs]
        return averaged(variant, scores)

    return compute


# The metrics the `llamafactory` mode computes LLaMA-Factory's way (its four).
METRICS: Mapping[str, MetricFn] = MappingProxyType(
    {
        "bleu-4": bleu_4_metric,
        "rouge-1": rouge_metric("rouge-1"),
        "rouge-2": rouge_metric("rouge-2"),
        "rouge-l": rouge_metric("rouge-l"),
    }
)
