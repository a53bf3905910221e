"""Scoring a pair by likelihood: does the question point to its own answer?

A small teacher asked to rate a pair 0–5 answers the same number whatever the pair (the
bundled 135M model always says 0), so a rating tells nothing. Its likelihoods do: read
after the question, its own answer should become more likely than the other answers of the
same document. Each candidate answer `c` gets the pointwise mutual information

    PMI(c) = log P(c | question) − log P(c | a neutral question)

(summed over c's tokens, as lm-evaluation-harness scores multiple choice with
`acc_mutual_info`, so long and common answers get no edge), and the pair scores

    score = 5 · softmax(PMI)[own answer]      (0–5, the judge's scale)

against up to CANDIDATES − 1 other answers of its document (others when it has too few).
Chance is 5 / CANDIDATES = 1; the default gate `min_score` 3 keeps a pair whose question
picks its own answer with probability ≥ 0.6. Likelihoods come from any OpenAI-compatible
`/v1/completions` that scores text (`echo` with `logprobs` and `max_tokens` 0), as the
gateway, vLLM and lm-evaluation-harness's `local-completions` do.
"""

from __future__ import annotations

import math
import random
from collections.abc import Awaitable, Callable, Sequence

from services.datagen.generation.quality import Pair
from services.datagen.generation.spec import Language

CANDIDATES = 5  # the own answer and up to four others
CONTEXT = {"zh-TW": "問題：{question}\n答案：", "en": "Question: {question}\nAnswer: "}
NEUTRAL_QUESTION = {"zh-TW": "請回答。", "en": "Please answer."}
REASON = {
    "zh-TW": "問題指向自己答案的機率 {p:.2f}（{n} 個同文件答案中）",
    "en": "the question picks its own answer with probability {p:.2f} among {n} answers",
}

# (context, continuation) pairs → log P(continuation | context), one per pair
LogLikelihoods = Callable[[Sequence[tuple[str, str]]], Awaitable[list[float]]]


def context(language: Language, question: str) -> str:
    return CONTEXT[language].format(question=question)


class LikelihoodScorer:
    """Scores pairs against the other answers of their documents (`answers_by_document`:
    every distinct answer of the run, by document, in a stable order)."""

    def __init__(
        self,
        loglikelihoods: LogLikelihoods,
        language: Language,
        answers_by_document: dict[str, list[str]],
        seed: int,
    ):
        self._loglikelihoods = loglikelihoods
        self._language = language
        self._answers = answers_by_document
        self._seed = seed
        self._neutral: dict[str, float] = {}  # answer → log P(answer | neutral question)

    def candidates(self, pair: Pair) -> list[str]:
        """The pair's own answer first, then others from its document, topped up from the
        rest of the run; the same pair always gets the same ones."""
        same = [a for a in self._answers.get(pair.document, []) if a != pair.answer]
        rest = [
            a
            for document, answers in sorted(self._answers.items())
            if document != pair.document
            for a in answers
            if a != pair.answer
        ]
        rng = random.Random(f"{self._seed}:{pair.id}")
        others = rng.sample(same, min(len(same), CANDIDATES - 1))
        others += rng.sample(rest, min(len(rest), CANDIDATES - 1 - len(others)))
        return [pair.answer, *others]

    async def _neutral_loglikelihoods(self, answers: Sequence[str]) -> list[float]:
        missing = [a for a in dict.fromkeys(answers) if a not in self._neutral]
        if missing:
            neutral = context(self._language, NEUTRAL_QUESTION[self._language])
            values = await self._loglikelihoods([(neutral, a) for a in missing])
            self._neutral.update(zip(missing, values, strict=True))
        return [self._neutral[a] for a in answers]

    async def score(self, pair: Pair) -> tuple[float, str]:
        """(score 0–5, a one-line reason). Raises what `loglikelihoods` raises."""
        candidates = self.candidates(pair)
        if len(candidates) < 2:
            return 5.0, REASON[self._language].format(p=1.0, n=1)  # nothing to confuse it with
        asked = context(self._language, pair.question)
        given = await self._loglikelihoods([(asked, c) for c in candidates])
        neutral = await self._neutral_loglikelihoods(candidates)
        pmi = [g - n for g, n in zip(given, neutral, strict=True)]
        top = max(pmi)
        weights = [math.exp(v - top) for v in pmi]
        p_own = weights[0] / sum(weights)
        return 5.0 * p_own, REASON[self._language].format(p=p_own, n=len(candidates))
