"""The pieces of a datagen run: JSON parsing of a teacher's answer, rule checks,
near-duplicate removal and a split without leakage."""

from __future__ import annotations

import pytest

from services.datagen.generation import quality
from services.datagen.generation.quality import Pair
from services.datagen.generation.teacher import parse_json_object

CHUNK = "函是機關之間往復的公文。函用於機關之間的公務聯繫與答復。"


def pair(number: int, question: str, answer: str) -> Pair:
    return Pair(f"pair-{number:03d}", question, answer, "doc.md", None, ["公文"], 0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"score": 4}', {"score": 4}),
        ('```json\n{"score": 3, "reason": "ok"}\n```', {"score": 3, "reason": "ok"}),
        ('Sure! Here it is: {"pairs": []} Hope that helps.', {"pairs": []}),
        ("not json at all", None),
        ("[1, 2, 3]", None),  # JSON, but not the object asked for
    ],
)
def test_json_objects_are_found_in_chatty_answers(text: str, expected: object) -> None:
    assert parse_json_object(text) == expected


@pytest.mark.parametrize(
    ("question", "answer", "problem"),
    [
        ("函是什麼樣的公文？", "函是機關之間往復的公文。", None),
        ("函是什麼樣的公文？", "  ", "empty"),
        ("函？", "函是機關之間往復的公文。", "too_short"),
        ("What is a letter between agencies?", "It is a letter.", "language_mismatch"),
        ("函由誰簽署？", "由總統府秘書長親自簽署並蓋上大印。", "unsupported_by_chunk"),
    ],
)
def test_rules(question: str, answer: str, problem: str | None) -> None:
    assert quality.rule_problem(question, answer, CHUNK, "zh-TW") == problem


def test_near_duplicates_go_and_the_split_does_not_leak() -> None:
    pairs = [
        pair(i, f"第{i}個問題：函的第{i}種用途是什麼？", f"答案編號{i}：{CHUNK}") for i in range(20)
    ]
    copies = [pair(100 + i, p.question, p.answer) for i, p in enumerate(pairs[:3])]
    kept, dropped = quality.drop_near_duplicates([*pairs, *copies], threshold=0.9)
    assert dropped == 3 and [p.id for p in kept] == [p.id for p in pairs]

    train, evaluation, moved = quality.split(kept, eval_fraction=0.25, threshold=0.9, seed=7)
    assert len(train) + len(evaluation) == 20 and moved == 0
    assert {p.split for p in train} == {"train"} and {p.split for p in evaluation} == {"eval"}
    # a near-duplicate in train pulls its twin out of the evaluation set
    twin = pair(999, evaluation[0].question, evaluation[0].answer)
    train, evaluation2, moved = quality.split([*kept, twin], 0.25, 0.9, seed=7)
    assert moved >= 1 or twin in evaluation2
    questions = {p.question for p in train}
    assert not any(p.question in questions for p in evaluation2)


def test_score_histogram_counts_unscored_pairs() -> None:
    scored = [pair(i, "q", "a") for i in range(3)]
    scored[0].score, scored[1].score = 4.0, 4.6
    assert quality.score_histogram(scored) == {
        "0": 0,
        "1": 0,
        "2": 0,
        "3": 0,
        "4": 1,
        "5": 1,
        "unscored": 1,
    }
