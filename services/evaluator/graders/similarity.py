"""The `text_similarity` grader's metrics (OpenAI's `evaluation_metric`), scored 0..1.

BLEU and ROUGE-1/2/L are the evaluator's own metrics divided by 100, so a grader and an
evaluation report give the same number for the same pair: Chinese pairs get LLaMA-Factory's
conventions (characters for BLEU, jieba words for ROUGE), English pairs word BLEU and
rouge-score with Porter stemming. ROUGE-3/4/5, GLEU and METEOR, which the evaluator does not
have, use the same units. "cosine" needs embeddings and is computed by the caller.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from types import MappingProxyType
from typing import Any

from nltk.translate.gleu_score import sentence_gleu
from nltk.translate.meteor_score import meteor_score
from rapidfuzz import fuzz
from rouge_score import rouge_scorer

from services.evaluator.metrics.pairs import ScoredPair, prepare_pairs
from services.evaluator.metrics.similarity import RougeVariant, bleu_4, rouge_f
from services.evaluator.metrics.tokens import characters, jieba_words, words
from tuneloop_core.jobspecs.eval_run import SIMILARITY_METRICS

EMBEDDING_METRICS = ("cosine",)  # scored by the caller, which has the embedding model
METRICS = tuple(m for m in SIMILARITY_METRICS if m not in EMBEDDING_METRICS)

# How each family of metrics cuts text, by language: reported in every result's metadata.
_BLEU_UNITS = {"zh": "zh: characters (LLaMA-Factory)", "en": "en: words"}
_ROUGE_UNITS = {
    "zh": "zh: jieba words (LLaMA-Factory)",
    "en": "en: words, lower-cased, Porter-stemmed (rouge-score)",
}
_METEOR_UNITS = {"zh": "zh: jieba words", "en": "en: words, lower-cased"}
_FUZZY_UNITS = {"zh": "characters (rapidfuzz ratio)", "en": "characters (rapidfuzz ratio)"}
NO_SYNONYMS = "none: WordNet is not installed, so only exact and stem matches count"


@dataclass(frozen=True)
class Similarity:
    """A score in 0..1 and how it was reached (all values strings, as OpenAI's metadata)."""

    score: float
    metadata: dict[str, str]


def text_similarity(metric: str, output: str, reference: str) -> Similarity:
    """How close `output` is to `reference` by `metric` (one of `METRICS`). An empty or
    blank side scores 0. ValueError for "cosine" and for unknown metrics."""
    if metric in EMBEDDING_METRICS:
        raise ValueError(f"{metric} similarity needs embeddings; it is not computed here")
    if metric not in _SCORERS:
        raise ValueError(f"unknown evaluation_metric {metric!r}; known: {', '.join(METRICS)}")
    pair = prepare_pairs([output], [reference])[0]
    scorer, units = _SCORERS[metric]
    metadata = {"metric": metric, "language": pair.language, "tokenization": units[pair.language]}
    if metric == "meteor":
        metadata["synonyms"] = NO_SYNONYMS
    if not output.strip() or not reference.strip():
        return Similarity(0.0, metadata | {"note": "empty output or reference"})
    return Similarity(min(max(scorer(pair), 0.0), 1.0), metadata)


def _bleu(pair: ScoredPair) -> float:
    return bleu_4(pair) / 100


def _rouge_variant(variant: RougeVariant) -> Callable[[ScoredPair], float]:
    def score(pair: ScoredPair) -> float:
        return rouge_f(pair, variant) / 100

    return score


def _bleu_units(pair: ScoredPair) -> tuple[list[str], list[str]]:
    units = characters if pair.language == "zh" else words
    return units(pair.prediction), units(pair.reference)


def _gleu(pair: ScoredPair) -> float:
    hypothesis, reference = _bleu_units(pair)
    return float(sentence_gleu([reference], hypothesis))


class _NoWordNet:
    """Stands in for nltk's WordNet corpus, which cannot be downloaded here: no synsets,
    so METEOR matches exact words and Porter stems only."""

    def synsets(self, *args: object, **kwargs: object) -> list[object]:
        return []


def _meteor_words(text: str, language: str) -> list[str]:
    if language == "zh":
        return [word for word in jieba_words(text) if word.strip()]
    return words(text)


def _meteor(pair: ScoredPair) -> float:
    hypothesis = _meteor_words(pair.prediction, pair.language)
    reference = _meteor_words(pair.reference, pair.language)
    if not hypothesis or not reference:
        return 0.0
    return float(meteor_score([reference], hypothesis, wordnet=_NoWordNet()))


class _JiebaTokenizer:
    """rouge-score's tokenizer interface over jieba words (its default drops CJK text)."""

    def tokenize(self, text: str) -> list[str]:
        return [word for word in jieba_words(text) if word.strip()]


@cache
def _rouge_n_scorer(n: int, chinese: bool) -> Any:
    name = f"rouge{n}"
    if chinese:
        return rouge_scorer.RougeScorer([name], tokenizer=_JiebaTokenizer())
    return rouge_scorer.RougeScorer([name], use_stemmer=True)


def _rouge_n(n: int) -> Callable[[ScoredPair], float]:
    """ROUGE-N F-score for the n the evaluator does not compute (3, 4, 5)."""

    def score(pair: ScoredPair) -> float:
        scorer = _rouge_n_scorer(n, pair.language == "zh")
        return float(scorer.score(pair.reference, pair.prediction)[f"rouge{n}"].fmeasure)

    return score


def _fuzzy_match(pair: ScoredPair) -> float:
    return float(fuzz.ratio(pair.prediction, pair.reference)) / 100


_SCORERS: Mapping[str, tuple[Callable[[ScoredPair], float], Mapping[str, str]]] = MappingProxyType(
    {
        "bleu": (_bleu, _BLEU_UNITS),
        "gleu": (_gleu, _BLEU_UNITS),
        "meteor": (_meteor, _METEOR_UNITS),
        "rouge_1": (_rouge_variant("rouge-1"), _ROUGE_UNITS),
        "rouge_2": (_rouge_variant("rouge-2"), _ROUGE_UNITS),
        "rouge_3": (_rouge_n(3), _ROUGE_UNITS),
        "rouge_4": (_rouge_n(4), _ROUGE_UNITS),
        "rouge_5": (_rouge_n(5), _ROUGE_UNITS),
        "rouge_l": (_rouge_variant("rouge-l"), _ROUGE_UNITS),
        "fuzzy_match": (_fuzzy_match, _FUZZY_UNITS),
    }
)
