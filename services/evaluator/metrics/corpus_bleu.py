"""Corpus BLEU from `sacrebleu`, the number MT papers report. One tokenizer covers the
corpus: `zh` (each Chinese character a token, everything else as `13a`) when any pair is
Chinese, `13a` otherwise. Per-example values are sacrebleu's sentence BLEU with the same
tokenizer; the corpus value is *not* their mean but BLEU over pooled n-gram counts."""

from __future__ import annotations

from collections.abc import Sequence

import sacrebleu

from services.evaluator.metrics.pairs import ScoredPair
from services.evaluator.metrics.results import MetricResult


def sacrebleu_tokenizer(pairs: Sequence[ScoredPair]) -> str:
    return "zh" if any(pair.language == "zh" for pair in pairs) else "13a"


def sacrebleu_metric(pairs: Sequence[ScoredPair]) -> MetricResult:
    tokenize = sacrebleu_tokenizer(pairs)
    predictions = [pair.prediction for pair in pairs]
    references = [pair.reference for pair in pairs]
    corpus = sacrebleu.corpus_bleu(predictions, [references], tokenize=tokenize).score
    per_example = tuple(
        float(sacrebleu.sentence_bleu(p, [r], tokenize=tokenize).score)
        for p, r in zip(predictions, references, strict=True)
    )
    return MetricResult("sacrebleu", float(corpus), per_example)
