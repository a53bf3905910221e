"""Exact match and token precision/recall/F1 (SQuAD's definitions, characters for Chinese),
and the language detection that picks the conventions, on hand-counted examples."""

from __future__ import annotations

import pytest

from services.evaluator.metrics import score
from services.evaluator.metrics.language import detect_language
from services.evaluator.metrics.tokens import answer_tokens


def test_chinese_answer_tokens_are_characters_and_latin_words() -> None:
    assert answer_tokens("用 LoRA 微調。", "zh") == ["用", "lora", "微", "調"]
    assert answer_tokens("「公文」", "zh") == ["公", "文"]


def test_english_answer_tokens_drop_case_punctuation_and_articles() -> None:
    assert answer_tokens("The Eiffel Tower, in Paris!", "en") == ["eiffel", "tower", "in", "paris"]


def test_token_overlap_counts_by_hand() -> None:
    predictions = ["公文的主旨", "The Eiffel Tower!", "", "", "天氣"]
    references = ["公文主旨。", "eiffel tower in Paris", "", "函", "公文"]
    results = score(predictions, references, ["token_precision", "token_recall", "token_f1"])
    # 公文的主旨 vs 公文主旨: 4 shared characters of 5 predicted and 4 expected.
    # Eiffel: 2 shared words of 2 predicted and 4 expected. Both empty: 100. One empty: 0.
    assert results["token_precision"].per_example == pytest.approx((80, 100, 100, 0, 0))
    assert results["token_recall"].per_example == pytest.approx((100, 50, 100, 0, 0))
    f1 = (2 * 0.8 / 1.8 * 100, 2 * 0.5 / 1.5 * 100, 100, 0, 0)
    assert results["token_f1"].per_example == pytest.approx(f1)
    assert results["token_f1"].corpus == pytest.approx(sum(f1) / 5)


def test_exact_match_ignores_case_punctuation_and_articles_only() -> None:
    predictions = ["公文。", "The answer", "Answer B", "公文的主旨"]
    references = ["公文", "answer.", "answer", "公文主旨"]
    result = score(predictions, references, ["exact_match"])["exact_match"]
    assert result.per_example == (100.0, 100.0, 0.0, 0.0)
    assert result.corpus == 50.0


@pytest.mark.parametrize(
    ("prediction", "reference", "language"),
    [
        ("", "公文的主旨應簡明扼要。", "zh"),
        ("anything", "用 LoRA 微調", "zh"),  # 2 of 6 letters are CJK
        ("公文", "The official document (公文) has a subject line.", "en"),
        ("公文的主旨", "", "zh"),  # no reference letters: read the prediction
        ("", "", "en"),
    ],
)
def test_language_comes_from_the_reference(prediction: str, reference: str, language: str) -> None:
    assert detect_language(prediction, reference) == language
