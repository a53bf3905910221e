"""BLEU-4, ROUGE and sacrebleu against the reference libraries called directly here, with
LLaMA-Factory's conventions for Chinese (jieba words for ROUGE, characters for BLEU)."""

from __future__ import annotations

import re
import warnings
from statistics import fmean

import opencc
import pytest
import sacrebleu
from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu
from rouge_chinese import Rouge
from rouge_score import rouge_scorer

from services.evaluator.metrics import DEFAULT_METRICS, METRICS, score
from services.evaluator.metrics.pairs import prepare_pairs
from tuneloop_core.errors import InvalidRequestError

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # jieba imports pkg_resources
    import jieba

EXACT = 1e-9
ZH_PAIRS = [  # (prediction, reference)
    ("公文的主旨應簡明扼要。", "公文的主旨應簡明扼要。"),  # identical
    ("公文的主旨要簡單明瞭，辦法分項條列。", "公文的主旨應簡明扼要，說明與辦法分項條列。"),
    ("", "函是機關之間往來公文的主要類別。"),  # empty prediction
    ("   ", "受文者、速別、密等與發文字號都在文首。"),  # whitespace only: no jieba words
    ("公文的主旨应简明扼要，说明与办法分项条列。", "公文的主旨應簡明扼要，說明與辦法分項條列。"),
    ("函是機關往來的公文。發文字號在文首。", "函是機關之間往來公文的主要類別。受文者在文首。"),
    ("用 LoRA 微調模型", "以 LoRA 微調基礎模型"),  # mixed script, still Chinese
    ("天氣很好", "公文的主旨應簡明扼要。"),  # no overlap
]
EN_PAIRS = [
    (
        "The quick brown fox jumps over the lazy dog.",
        "The quick brown fox jumps over the lazy dog.",
    ),
    ("The quick brown fox jumped over the dog.", "The quick brown fox jumps over the lazy dog."),
    ("", "Tuneloop turns documents into a fine-tuned model."),
    (
        "Tuneloop turns documents into a model you can chat with!",
        "Tuneloop turns documents into a fine-tuned model you can chat with.",
    ),
    ("hello world", "Goodbye, moon."),
]


def reference_rouge_zh(prediction: str, reference: str) -> dict[str, float]:
    hypothesis = list(jieba.cut(prediction))
    target = list(jieba.cut(reference))
    if not " ".join(hypothesis).split() or not " ".join(target).split():
        return {"rouge-1": 0.0, "rouge-2": 0.0, "rouge-l": 0.0}
    found = Rouge().get_scores(" ".join(hypothesis), " ".join(target))[0]
    return {name: found[name]["f"] * 100 for name in ("rouge-1", "rouge-2", "rouge-l")}


def reference_rouge_en(prediction: str, reference: str) -> dict[str, float]:
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    found = scorer.score(reference, prediction)
    return {
        "rouge-1": found["rouge1"].fmeasure * 100,
        "rouge-2": found["rouge2"].fmeasure * 100,
        "rouge-l": found["rougeL"].fmeasure * 100,
    }


def reference_bleu(prediction: list[str], reference: list[str]) -> float:
    method3 = SmoothingFunction().method3
    return float(sentence_bleu([reference], prediction, smoothing_function=method3)) * 100


def english_words(text: str) -> list[str]:
    return re.findall(r"\w+|[^\w\s]", text)


def assert_close(ours: tuple[float, ...] | list[float], expected: list[float]) -> None:
    assert len(ours) == len(expected)
    for got, want in zip(ours, expected, strict=True):
        assert got == pytest.approx(want, abs=EXACT, rel=0)


def test_languages_are_detected_per_pair() -> None:
    pairs = prepare_pairs(*zip(*ZH_PAIRS + EN_PAIRS, strict=True))
    assert [p.language for p in pairs] == ["zh"] * len(ZH_PAIRS) + ["en"] * len(EN_PAIRS)


def test_chinese_rouge_and_bleu_follow_llamafactory() -> None:
    predictions, references = (list(side) for side in zip(*ZH_PAIRS, strict=True))
    results = score(predictions, references, ["bleu-4", "rouge-1", "rouge-2", "rouge-l"])
    expected_rouge = [reference_rouge_zh(p, r) for p, r in ZH_PAIRS]
    for name in ("rouge-1", "rouge-2", "rouge-l"):
        expected = [scores[name] for scores in expected_rouge]
        assert_close(results[name].per_example, expected)
        assert results[name].corpus == pytest.approx(fmean(expected), abs=EXACT)
    expected_bleu = [reference_bleu(list(p), list(r)) for p, r in ZH_PAIRS]
    assert_close(results["bleu-4"].per_example, expected_bleu)
    assert results["bleu-4"].corpus == pytest.approx(fmean(expected_bleu), abs=EXACT)
    # The cases the pairs were chosen for.
    assert results["rouge-l"].per_example[0] == pytest.approx(100.0)
    assert results["bleu-4"].per_example[0] == pytest.approx(100.0)
    assert results["rouge-1"].per_example[2:4] == (0.0, 0.0)
    assert results["bleu-4"].per_example[2] == 0.0
    assert 0 < results["rouge-1"].per_example[1] < 100


def test_rounded_like_llamafactory_differs_by_less_than_its_rounding() -> None:
    # LLaMA-Factory rounds every pair's score to 4 decimals before the mean; we do not.
    predictions, references = (list(side) for side in zip(*ZH_PAIRS, strict=True))
    ours = score(predictions, references, ["rouge-l", "bleu-4"])
    rounded_rouge = fmean(round(reference_rouge_zh(p, r)["rouge-l"], 4) for p, r in ZH_PAIRS)
    rounded_bleu = fmean(round(reference_bleu(list(p), list(r)), 4) for p, r in ZH_PAIRS)
    assert ours["rouge-l"].corpus == pytest.approx(rounded_rouge, abs=5e-5)
    assert ours["bleu-4"].corpus == pytest.approx(rounded_bleu, abs=5e-5)


def test_english_uses_rouge_score_with_stemming_and_word_bleu() -> None:
    predictions, references = (list(side) for side in zip(*EN_PAIRS, strict=True))
    results = score(predictions, references, ["bleu-4", "rouge-1", "rouge-2", "rouge-l"])
    expected_rouge = [reference_rouge_en(p, r) for p, r in EN_PAIRS]
    for name in ("rouge-1", "rouge-2", "rouge-l"):
        expected = [scores[name] for scores in expected_rouge]
        assert_close(results[name].per_example, expected)
        assert results[name].corpus == pytest.approx(fmean(expected), abs=EXACT)
    expected_bleu = [reference_bleu(english_words(p), english_words(r)) for p, r in EN_PAIRS]
    assert_close(results["bleu-4"].per_example, expected_bleu)
    assert results["rouge-1"].per_example[0] == pytest.approx(100.0)
    assert results["rouge-1"].per_example[2] == 0.0
    # "jumped" and "jumps" share the stem "jump".
    assert expected_rouge[1]["rouge-1"] > 80


def test_mixed_corpus_scores_each_pair_by_its_language() -> None:
    pairs = [ZH_PAIRS[1], EN_PAIRS[1], ZH_PAIRS[5], EN_PAIRS[3]]
    predictions, references = (list(side) for side in zip(*pairs, strict=True))
    results = score(predictions, references, ["rouge-2", "bleu-4"])
    expected = [
        reference_rouge_zh(*pairs[0])["rouge-2"],
        reference_rouge_en(*pairs[1])["rouge-2"],
        reference_rouge_zh(*pairs[2])["rouge-2"],
        reference_rouge_en(*pairs[3])["rouge-2"],
    ]
    assert_close(results["rouge-2"].per_example, expected)
    assert results["bleu-4"].per_example[1] == pytest.approx(
        reference_bleu(english_words(pairs[1][0]), english_words(pairs[1][1])), abs=EXACT
    )


@pytest.mark.parametrize(
    ("pairs", "tokenize"),
    [(ZH_PAIRS + EN_PAIRS, "zh"), (EN_PAIRS, "13a")],
    ids=["any-chinese", "english-only"],
)
def test_sacrebleu_is_its_own_corpus_bleu(pairs: list[tuple[str, str]], tokenize: str) -> None:
    predictions, references = (list(side) for side in zip(*pairs, strict=True))
    result = score(predictions, references, ["sacrebleu"])["sacrebleu"]
    corpus = sacrebleu.corpus_bleu(predictions, [references], tokenize=tokenize).score
    assert result.corpus == pytest.approx(corpus, abs=EXACT)
    sentences = [
        sacrebleu.sentence_bleu(p, [r], tokenize=tokenize).score
        for p, r in zip(predictions, references, strict=True)
    ]
    assert_close(result.per_example, sentences)
    assert result.corpus != pytest.approx(fmean(sentences))  # pooled counts, not a mean


def test_opencc_makes_simplified_and_traditional_score_alike() -> None:
    simplified, traditional = ZH_PAIRS[4]
    names = ["exact_match", "bleu-4", "rouge-l", "token_f1", "sacrebleu"]
    plain = score([simplified], [traditional], names)
    normalized = score([simplified], [traditional], names, normalize="opencc")
    for name in names:
        assert normalized[name].corpus == pytest.approx(100.0), name
    assert plain["exact_match"].corpus == 0.0
    assert plain["bleu-4"].corpus < 100


def test_opencc_scores_equal_reference_libraries_on_converted_text() -> None:
    converter = opencc.OpenCC("s2tw")
    predictions, references = (list(side) for side in zip(*ZH_PAIRS, strict=True))
    results = score(predictions, references, ["rouge-1", "bleu-4"], normalize="opencc")
    converted = [(converter.convert(p), converter.convert(r)) for p, r in ZH_PAIRS]
    assert_close(
        results["rouge-1"].per_example, [reference_rouge_zh(p, r)["rouge-1"] for p, r in converted]
    )
    assert_close(
        results["bleu-4"].per_example, [reference_bleu(list(p), list(r)) for p, r in converted]
    )


def test_forced_language_overrides_detection() -> None:
    prediction, reference = ZH_PAIRS[1]
    forced = score([prediction], [reference], ["rouge-1"], language="en")["rouge-1"]
    # rouge-score's tokenizer keeps only ASCII letters and digits: Chinese scores 0.
    assert forced.corpus == reference_rouge_en(prediction, reference)["rouge-1"] == 0.0


def test_registry_names_and_defaults() -> None:
    assert set(DEFAULT_METRICS) <= set(METRICS)
    assert {"bleu-4", "rouge-1", "rouge-2", "rouge-l", "sacrebleu", "exact_match"} <= set(METRICS)
    results = score(["公文"], ["公文"], [])
    assert list(results) == list(DEFAULT_METRICS)
    assert all(result.name == name for name, result in results.items())


def test_bad_requests_are_invalid_request_errors() -> None:
    with pytest.raises(InvalidRequestError, match="unknown metrics") as unknown:
        score(["a"], ["a"], ["bleu-5"])
    assert unknown.value.param == "metrics"
    with pytest.raises(InvalidRequestError, match="2 predictions for 1 references"):
        score(["a", "b"], ["a"])
    with pytest.raises(InvalidRequestError, match="no pairs"):
        score([], [])
    with pytest.raises(InvalidRequestError, match="unknown normalization"):
        score(["a"], ["a"], normalize="nfkc")  # type: ignore[arg-type]
    with pytest.raises(InvalidRequestError, match="unknown language"):
        score(["a"], ["a"], language="fr")  # type: ignore[arg-type]
