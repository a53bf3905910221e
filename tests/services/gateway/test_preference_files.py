"""Votes and judge verdicts → OpenAI preference lines: who is preferred to whom, and what is
left out and why (no votes, a tie, identical answers, no verdict)."""

from __future__ import annotations

import pytest

from services.gateway.preference_files import from_judge, from_votes
from services.gateway.registry.comparisons import AnswerTally
from tuneloop_core.comparison_answers import ComparisonAnswers
from tuneloop_core.errors import ConflictError


def test_the_most_voted_answer_is_preferred_to_each_with_fewer_votes() -> None:
    answers = ComparisonAnswers(
        models=["a", "b", "c"],
        questions=["q0", "q1", "q2", "q3"],
        answers=[["A0", "B0", "C0"], ["A1", "B1", "C1"], ["A2", "B2", "C2"], ["same", "same", "x"]],
    )
    tallies = [
        AnswerTally(0, "a", 2), AnswerTally(0, "b", 1),  # a over b and over c (no votes)
        AnswerTally(1, "a", 1), AnswerTally(1, "b", 1),  # a tie at the top
        AnswerTally(3, "a", 1),  # a over b (the same text: left out) and over c
    ]  # fmt: skip
    made = from_votes("cmpjob-1", answers, tallies, "Be brief.")
    pairs = [
        (line["preferred_output"][0]["content"], line["non_preferred_output"][0]["content"])
        for line in made.lines
    ]
    assert pairs == [("A0", "B0"), ("A0", "C0"), ("same", "x")]
    assert made.left_out == {"ties": 1, "no_votes": 1, "identical_answers": 1}
    first = made.lines[0]
    assert first["input"]["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "q0"},
    ]
    assert first["metadata"] == {
        "source": "votes",
        "comparison": "cmpjob-1",
        "preferred_model": "a",
        "non_preferred_model": "b",
    }


def example(index: int, winner: str) -> dict[str, object]:
    outputs = {"base": {"prediction": f"b{index}"}, "ft": {"prediction": f"f{index}"}}
    return {"question": f"q{index}", "outputs": outputs, "pairwise_winner": winner}


def test_the_judges_pairwise_winner_is_preferred_and_marked_as_the_judges() -> None:
    results = {
        "judge": {"model": "judge-m", "pairwise": {"first_model": "base", "second_model": "ft"}},
        "examples": [example(0, "ft"), example(1, "tie"), example(2, "unparsed")],
    }
    made = from_judge("evaljob-1", results)
    assert [line["preferred_output"][0]["content"] for line in made.lines] == ["f0"]
    assert made.lines[0]["metadata"]["source"] == "judge"
    assert made.lines[0]["metadata"]["judge_model"] == "judge-m"
    assert made.left_out == {"ties": 1, "no_verdict": 1}
    with pytest.raises(ConflictError, match="no pairwise judge"):
        from_judge("evaljob-2", {"judge": None, "examples": []})
