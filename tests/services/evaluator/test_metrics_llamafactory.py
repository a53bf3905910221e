"""The `llamafactory` scoring mode against LLaMA-Factory's `ComputeSimilarity` formula,
restated here on decoded text, over a mixed set (13 Chinese rows, 2 English): every row
scored the Chinese way, rounded per row, whatever its language; the language-aware values
kept, unchanged, in their own columns."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu
from rouge_chinese import Rouge

from services.evaluator.metrics import DEFAULT_METRICS, metric_columns, score
from tuneloop_core.errors import InvalidRequestError

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # jieba imports pkg_resources
    import jieba

TOLERANCE = 0.01  # the bound on |ours - LLaMA-Factory's| for every metric
EXACT = 1e-9
SIMILARITY = ("bleu-4", "rouge-1", "rouge-2", "rouge-l")
ZH_ROWS = [  # (predict, label)
    ("公文的主旨應簡明扼要。", "公文的主旨應簡明扼要。"),
    ("公文的主旨要簡單明瞭，辦法分項條列。", "公文的主旨應簡明扼要，說明與辦法分項條列。"),
    ("", "函是機關之間往來公文的主要類別。"),
    ("   ", "受文者、速別、密等與發文字號都在文首。"),
    ("公文的主旨应简明扼要，说明与办法分项条列。", "公文的主旨應簡明扼要，說明與辦法分項條列。"),
    ("函是機關往來的公文。發文字號在文首。", "函是機關之間往來公文的主要類別。受文者在文首。"),
    ("用 LoRA 微調模型", "以 LoRA 微調基礎模型"),
    ("天氣很好", "公文的主旨應簡明扼要。"),
    ("公告是對公眾宣布事項。", "公告是機關對公眾宣布周知事項的公文。"),
    ("簽由承辦人寫給長官。", "簽是承辦人員就職掌事項向長官陳述意見的公文。"),
    ("依第5條辦理，請於3日內回復。", "依據第5條規定辦理，請於3日內函復。"),
    ("速別分為最速件、速件與普通件。", "速別分為最速件、速件、普通件三種。"),
    ("開會通知單應載明時間、地點。", "開會通知單應載明開會事由、時間、地點及出席者。"),
]
EN_ROWS = [
    ("The quick brown fox jumped over the dog.", "The quick brown fox jumps over the lazy dog."),
    (
        "Tuneloop turns documents into a model you can chat with!",
        "Tuneloop turns documents into a fine-tuned model you can chat with.",
    ),
]
ROWS = ZH_ROWS[:7] + EN_ROWS[:1] + ZH_ROWS[7:] + EN_ROWS[1:]  # English rows among the Chinese
ENGLISH = [ROWS.index(row) for row in EN_ROWS]


def compute_similarity(rows: list[tuple[str, str]]) -> dict[str, list[float]]:
    """LLaMA-Factory's `ComputeSimilarity` (src/llamafactory/train/sft/metric.py) on text
    already decoded: per row, ROUGE F of rouge-chinese over the jieba words of both sides
    joined by spaces (all 0 when either side has no word), sentence BLEU-4 over characters
    with smoothing method 3; each ×100 and rounded to 4 decimals."""
    per_row: dict[str, list[float]] = {name: [] for name in SIMILARITY}
    for predict, label in rows:
        hypothesis = " ".join(jieba.cut(predict))
        reference = " ".join(jieba.cut(label))
        if hypothesis.split() and reference.split():
            found = Rouge().get_scores(hypothesis, reference)[0]
            rouge = {name: found[name]["f"] for name in SIMILARITY[1:]}
        else:
            rouge = dict.fromkeys(SIMILARITY[1:], 0.0)
        for name, value in rouge.items():
            per_row[name].append(round(value * 100, 4))
        bleu = sentence_bleu(
            [list(label)], list(predict), smoothing_function=SmoothingFunction().method3
        )
        per_row["bleu-4"].append(round(bleu * 100, 4))
    return per_row


def sides(rows: list[tuple[str, str]]) -> tuple[list[str], list[str]]:
    return [p for p, _ in rows], [r for _, r in rows]


def test_llamafactory_mode_gives_llamafactorys_numbers_on_mixed_languages() -> None:
    expected = compute_similarity(ROWS)
    results = score(*sides(ROWS), scoring="llamafactory")
    for name in SIMILARITY:
        assert results[name].corpus == pytest.approx(
            float(np.mean(expected[name])), abs=TOLERANCE, rel=0
        ), name
        assert results[name].per_example == pytest.approx(expected[name], abs=EXACT, rel=0), name
    # The rows the set was chosen for: identical, no jieba words, and English by characters.
    assert results["rouge-l"].per_example[0] == results["bleu-4"].per_example[0] == 100.0
    assert results["rouge-1"].per_example[2:4] == (0.0, 0.0)
    assert all(0 < results["bleu-4"].per_example[i] < 100 for i in ENGLISH)


def test_only_the_english_rows_change_with_the_mode() -> None:
    llamafactory = score(*sides(ROWS), SIMILARITY, scoring="llamafactory")
    language_aware = score(*sides(ROWS), SIMILARITY)
    for name in SIMILARITY:
        ours, twin = llamafactory[name].per_example, language_aware[name].per_example
        for index in range(len(ROWS)):
            if index in ENGLISH:
                assert ours[index] != pytest.approx(twin[index], abs=TOLERANCE), (name, index)
            else:  # the Chinese conventions are LLaMA-Factory's; only its rounding differs
                assert ours[index] == pytest.approx(twin[index], abs=5e-5), (name, index)


def test_language_aware_columns_keep_todays_values() -> None:
    today = score(*sides(ROWS))
    both = score(*sides(ROWS), scoring="llamafactory")
    assert list(both) == metric_columns(DEFAULT_METRICS, "llamafactory")
    for name in SIMILARITY:
        kept = both[f"{name} (language-aware)"]
        assert kept.name == f"{name} (language-aware)"
        assert kept.per_example == today[name].per_example
        assert kept.corpus == today[name].corpus
    for name in set(DEFAULT_METRICS) - set(SIMILARITY):  # sacrebleu, exact match, F1
        assert both[name] == today[name]
    assert list(today) == list(DEFAULT_METRICS)  # no twins in the language-aware mode


def test_columns_follow_the_named_metrics() -> None:
    assert metric_columns(["rouge-l", "exact_match", "bleu-4"], "llamafactory") == [
        "rouge-l",
        "exact_match",
        "bleu-4",
        "rouge-l (language-aware)",
        "bleu-4 (language-aware)",
    ]
    assert metric_columns(["exact_match"], "llamafactory") == ["exact_match"]
    assert metric_columns(["rouge-l"], "language_aware") == ["rouge-l"]
    results = score(*sides(EN_ROWS), ["rouge-l"], scoring="llamafactory")
    assert list(results) == ["rouge-l", "rouge-l (language-aware)"]


def test_an_unknown_scoring_mode_is_an_invalid_request() -> None:
    with pytest.raises(InvalidRequestError, match="scoring must be one of") as caught:
        score(["a"], ["a"], scoring="auto")  # type: ignore[arg-type]
    assert caught.value.param == "scoring"
