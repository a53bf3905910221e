"""Predictions and references made ready for scoring: checked, normalised, and each pair
tagged with the language whose conventions score it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from services.evaluator.metrics.language import Language, LanguageChoice, detect_language
from services.evaluator.metrics.normalize import Normalization, normalize_text
from tuneloop_core.errors import InvalidRequestError


@dataclass(frozen=True)
class ScoredPair:
    """A model output and its reference answer, after normalisation."""

    prediction: str
    reference: str
    language: Language


def prepare_pairs(
    predictions: Sequence[str],
    references: Sequence[str],
    *,
    normalize: Normalization | None = None,
    language: LanguageChoice = "auto",
) -> list[ScoredPair]:
    if len(predictions) != len(references):
        raise InvalidRequestError(
            f"{len(predictions)} predictions for {len(references)} references", param="pairs"
        )
    if not predictions:
        raise InvalidRequestError("there are no pairs to score", param="pairs")
    if normalize not in (None, "opencc"):
        raise InvalidRequestError(f"unknown normalization {normalize!r}", param="normalize")
    if language not in ("auto", "zh", "en"):
        raise InvalidRequestError(f"unknown language {language!r}", param="language")
    pairs = []
    for raw_prediction, raw_reference in zip(predictions, references, strict=True):
        prediction = normalize_text(raw_prediction, normalize)
        reference = normalize_text(raw_reference, normalize)
        pair_language = detect_language(prediction, reference) if language == "auto" else language
        pairs.append(ScoredPair(prediction, reference, pair_language))
    return pairs
