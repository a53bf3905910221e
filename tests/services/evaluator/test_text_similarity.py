"""The text_similarity grader's metrics: BLEU and ROUGE agree with the evaluator's own
metrics of the same name on Chinese pairs, every metric scores 0..1, identical texts score
about 1, empty sides score 0, and the metadata says how the text was cut."""

from __future__ import annotations

import pytest

from services.evaluator.graders.similarity import (
    EMBEDDING_METRICS,
    METRICS,
    NO_SYNONYMS,
    text_similarity,
)
from services.evaluator.metrics.registry import score

ZH_PAIRS = [  # (output, reference): real 公文 and contract-review answers
    ("公文的主旨要簡單明瞭，辦法分項條列。", "公文的主旨應簡明扼要，說明與辦法分項條列。"),
    ("函是機關往來的公文。發文字號在文首。", "函是機關之間往來公文的主要類別。受文者在文首。"),
    ("公文的主旨应简明扼要，说明与办法分项条列。", "公文的主旨應簡明扼要，說明與辦法分項條列。"),
    ("用 LoRA 微調模型", "以 LoRA 微調基礎模型"),
    (
        "本契約之違約金以總價百分之十為上限，逾期每日按千分之一計罰。",
        "逾期交貨者，每日按契約總價千分之一計算違約金，上限為契約總價百分之十。",
    ),
    (
        "甲方得於乙方違約時終止契約，並請求損害賠償。",
        "乙方違反本契約時，甲方得終止契約並請求賠償其所受損害。",
    ),
    ("天氣很好", "公文的主旨應簡明扼要。"),
]
EN_PAIRS = [
    ("The quick brown fox jumped over the dog.", "The quick brown fox jumps over the lazy dog."),
    (
        "Tuneloop turns documents into a model you can chat with!",
        "Tuneloop turns documents into a fine-tuned model you can chat with.",
    ),
    ("hello world", "Goodbye, moon."),
]
IDENTICAL = [
    "公文的主旨應簡明扼要，說明與辦法分項條列，受文者、速別與發文字號都在文首。",
    "The quick brown fox jumps over the lazy dog near the quiet river bank today.",
]


@pytest.mark.parametrize(("output", "reference"), ZH_PAIRS)
def test_rouge_l_and_bleu_agree_with_the_evaluators_metrics_on_chinese(
    output: str, reference: str
) -> None:
    evaluator = score([output], [reference], ["rouge-l", "bleu-4"])
    rouge_l = text_similarity("rouge_l", output, reference)
    bleu = text_similarity("bleu", output, reference)
    assert rouge_l.score == pytest.approx(evaluator["rouge-l"].per_example[0] / 100, abs=0.01)
    assert bleu.score == pytest.approx(evaluator["bleu-4"].per_example[0] / 100, abs=0.01)
    assert rouge_l.metadata["tokenization"] == "zh: jieba words (LLaMA-Factory)"
    assert bleu.metadata["tokenization"] == "zh: characters (LLaMA-Factory)"
    assert rouge_l.metadata["language"] == bleu.metadata["language"] == "zh"


@pytest.mark.parametrize(("output", "reference"), ZH_PAIRS + EN_PAIRS)
def test_rouge_1_and_2_agree_with_the_evaluator_too(output: str, reference: str) -> None:
    evaluator = score([output], [reference], ["rouge-1", "rouge-2"])
    for metric, name in (("rouge_1", "rouge-1"), ("rouge_2", "rouge-2")):
        expected = evaluator[name].per_example[0] / 100
        assert text_similarity(metric, output, reference).score == pytest.approx(expected)


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize(("output", "reference"), ZH_PAIRS + EN_PAIRS)
def test_every_metric_scores_between_0_and_1(metric: str, output: str, reference: str) -> None:
    result = text_similarity(metric, output, reference)
    assert 0.0 <= result.score <= 1.0
    assert result.metadata["metric"] == metric
    assert result.metadata["tokenization"]
    assert all(isinstance(value, str) for value in result.metadata.values())


@pytest.mark.parametrize("text", IDENTICAL)
@pytest.mark.parametrize("metric", [m for m in METRICS if m != "meteor"])
def test_identical_texts_score_about_1(metric: str, text: str) -> None:
    assert text_similarity(metric, text, text).score == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("text", IDENTICAL)
def test_identical_texts_score_about_1_by_meteor(text: str) -> None:
    # METEOR keeps a small fragmentation penalty even for a perfect match.
    assert text_similarity("meteor", text, text).score > 0.99


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize(
    ("output", "reference"),
    [("", "公文的主旨應簡明扼要。"), ("公文的主旨應簡明扼要。", ""), ("", ""), ("  \n", "hello")],
)
def test_an_empty_side_scores_0(metric: str, output: str, reference: str) -> None:
    result = text_similarity(metric, output, reference)
    assert result.score == 0.0
    assert result.metadata["note"] == "empty output or reference"


def test_no_overlap_scores_0() -> None:
    for metric in ("bleu", "rouge_1", "rouge_2", "rouge_3", "rouge_l", "meteor"):
        assert text_similarity(metric, "天氣很好", "公文的主旨應簡明扼要。").score == pytest.approx(
            0.0, abs=0.05
        ), metric


@pytest.mark.parametrize(("output", "reference"), ZH_PAIRS[:2] + ZH_PAIRS[4:6] + EN_PAIRS[:2])
def test_longer_n_grams_match_less(output: str, reference: str) -> None:
    scores = [text_similarity(f"rouge_{n}", output, reference).score for n in (1, 2, 3, 4, 5)]
    assert scores == sorted(scores, reverse=True)
    assert scores[0] > 0


def test_rouge_3_to_5_count_chinese_words_not_nothing() -> None:
    # rouge-score's own tokenizer drops every CJK character; jieba words are counted here.
    output = "乙方應於簽約後三十日內交付全部貨品。"
    reference = "乙方應於簽約後三十日內交付全部貨品，並提出驗收報告。"
    for n in (3, 4, 5):
        result = text_similarity(f"rouge_{n}", output, reference)
        assert 0.5 < result.score < 1.0
        assert result.metadata["tokenization"] == "zh: jieba words (LLaMA-Factory)"


def test_rouge_on_english_stems_and_ignores_case() -> None:
    result = text_similarity("rouge_3", "The Cats ran quickly home", "the cat ran quickly home")
    assert result.metadata["tokenization"] == (
        "en: words, lower-cased, Porter-stemmed (rouge-score)"
    )
    assert result.score == pytest.approx(1.0)


def test_metadata_names_the_tokenisation() -> None:
    zh, en = ZH_PAIRS[0], EN_PAIRS[0]
    assert text_similarity("bleu", *en).metadata["tokenization"] == "en: words"
    assert text_similarity("gleu", *zh).metadata["tokenization"] == (
        "zh: characters (LLaMA-Factory)"
    )
    assert text_similarity("meteor", *zh).metadata == {
        "metric": "meteor",
        "language": "zh",
        "tokenization": "zh: jieba words",
        "synonyms": NO_SYNONYMS,
    }
    assert text_similarity("fuzzy_match", *en).metadata["tokenization"] == (
        "characters (rapidfuzz ratio)"
    )
    assert text_similarity("rouge_l", *en).metadata["language"] == "en"


def test_meteor_matches_stems_but_has_no_synonyms() -> None:
    stems = text_similarity("meteor", "the cats sat", "the cat sat")
    synonyms = text_similarity("meteor", "the feline sat", "the cat sat")
    assert stems.score > synonyms.score > 0


def test_fuzzy_match_is_the_character_edit_ratio() -> None:
    assert text_similarity("fuzzy_match", "abcd", "abce").score == pytest.approx(0.75)
    assert text_similarity("fuzzy_match", "公文主旨", "公文說明").score == pytest.approx(0.5)


@pytest.mark.parametrize("metric", [*EMBEDDING_METRICS, "bleu-4", "rouge", ""])
def test_cosine_and_unknown_metrics_are_value_errors(metric: str) -> None:
    with pytest.raises(ValueError, match=metric or "unknown"):
        text_similarity(metric, "a", "a")
