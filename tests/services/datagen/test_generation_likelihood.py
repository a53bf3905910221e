"""The likelihood scorer's candidates and its arithmetic (the real model's likelihoods are
tested in test_generation_smollm2)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from services.datagen.generation.likelihood import CANDIDATES, LikelihoodScorer
from services.datagen.generation.quality import Pair

ANSWERS = {
    "02.md": [
        "主旨是全文精要，簡要寫出行文目的與期望。",
        "主旨不分項，文字緊接在主旨之後書寫。",
        "期望語通常放在主旨的最後。",
        "說明用來敘述案情的事實、來源或理由。",
        "辦法用來列舉對受文者的具體要求。",
        "分項條列依序用一、二、三。",
    ],
    "03.md": ["速別分為最速件、速件與普通件。", "主旨寫在受文者之後。"],
}


def pair(answer: str, document: str = "02.md") -> Pair:
    return Pair("pair-1", "請問主旨是什麼？", answer, document, None, [], 0)


def test_the_candidates_are_the_answers_that_read_most_like_its_own() -> None:
    scorer = LikelihoodScorer(_unused, "zh-TW", ANSWERS)
    own = ANSWERS["02.md"][0]
    candidates = scorer.candidates(pair(own))
    assert len(candidates) == CANDIDATES and candidates[0] == own
    assert set(candidates[1:3]) == {ANSWERS["02.md"][1], ANSWERS["02.md"][2]}  # share 主旨
    assert set(candidates[1:]) <= set(ANSWERS["02.md"])  # its document first
    assert scorer.candidates(pair(own)) == candidates  # stable
    lone = LikelihoodScorer(_unused, "zh-TW", {"a.md": ["主旨是全文精要。"], **ANSWERS})
    topped_up = lone.candidates(pair("主旨是全文精要。", "a.md"))
    assert len(topped_up) == CANDIDATES and "主旨寫在受文者之後。" in topped_up[1:3]


async def test_the_score_is_five_times_the_own_answers_softmax_share_of_pmi() -> None:
    given = {a: -10.0 for answers in ANSWERS.values() for a in answers}
    own = ANSWERS["02.md"][0]
    given[own] = -10.0 + math.log(4)  # four times as likely after the question

    async def loglikelihoods(items: Sequence[tuple[str, str]]) -> list[float]:
        return [given[c] if "主旨是什麼" in ctx else -10.0 for ctx, c in items]

    score, reason = await LikelihoodScorer(loglikelihoods, "zh-TW", ANSWERS).score(pair(own))
    assert math.isclose(score, 5 * 4 / (4 + CANDIDATES - 1))
    assert "0.50" in reason


async def _unused(items: Sequence[tuple[str, str]]) -> list[float]:
    raise AssertionError("candidates need no likelihoods")
