"""LLM-as-judge through the inference service: a rubric score (1–10 and a reason) per
answer, and pairwise preference with the order of the two answers randomised per example
(seeded) so a judge that favours the first or second position cancels out.

Both decode under a grammar (constrained decoding), so every reply can be read: the
rubric as `{"score": 1–10, "reason": "…"}` (the score first, so a reply cut off at
max_tokens still has it), the preference as exactly "A", "B" or "tie". The text parsers
stay as a fallback for a reply that is not that JSON."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from services.evaluator.generation import GenerationSettings, generate_answers
from tuneloop.inference.v1 import inference_pb2, inference_pb2_grpc
from tuneloop_core.errors import InvalidRequestError

# A score and a sentence of reason; greedy so a re-run gives the same score.
JUDGE_SETTINGS = GenerationSettings(max_tokens=128, temperature=0.0, top_p=1.0)
MAX_REASON_CHARS = 200
RUBRIC_SCHEMA = {
    "type": "object",
    "properties": {
        "score": {"type": "integer", "enum": list(range(1, 11))},
        "reason": {"type": "string", "maxLength": MAX_REASON_CHARS},
    },
    "required": ["score", "reason"],
    "additionalProperties": False,
}
RUBRIC_CONSTRAINT = inference_pb2.OutputConstraint(json_schema=json.dumps(RUBRIC_SCHEMA))
WINNERS = ["A", "B", "tie"]
PAIRWISE_CONSTRAINT = inference_pb2.OutputConstraint(choice=inference_pb2.Choices(values=WINNERS))
RUBRIC = (
    "You are grading an answer. Criteria: correctness{against}, completeness, and whether it "
    "is in the language and format the question asks for (請以題目要求的語言與格式評分).\n\n"
    "Question:\n{question}\n\n{reference}Answer:\n{answer}\n\n"
    'Reply with JSON only: {{"score": <integer 1-10>, "reason": "<one sentence>"}}'
)
PAIRWISE = (
    "Which answer to the question is better (correct, complete, right language and format)?"
    "\n\nQuestion:\n{question}\n\n{reference}Answer A:\n{first}\n\nAnswer B:\n{second}\n\n"
    "Reply with one word: A, B or tie"
)
# "Score: 7", "分數：8", and `"score": 7` in JSON cut off before its end
_SCORE = re.compile(r"(?:score|分數|評分)[\"']?\s*[:：=]?\s*\**\s*(\d+(?:\.\d+)?)", re.IGNORECASE)
_OUT_OF = re.compile(r"\b(\d+(?:\.\d+)?)\s*(?:/|out of)\s*10\b", re.IGNORECASE)
_REASON = re.compile(r"(?:reason|理由)[\"']?\s*[:：]\s*\"?(.+)", re.IGNORECASE | re.DOTALL)
_WINNER = re.compile(r"(?:winner|better|勝出)\s*[:：]?\s*\**\s*(A|B|tie)\b", re.IGNORECASE)


@dataclass(frozen=True)
class JudgeScore:
    score: float | None  # 1–10; None when the judge's reply held no score
    reason: str


def parse_judgement(text: str) -> JudgeScore:
    """The rubric reply `{"score": 7, "reason": "…"}`; anything else goes to `parse_score`."""
    try:
        value = json.loads(text)
    except ValueError:
        return parse_score(text)
    score = value.get("score") if isinstance(value, dict) else None
    if isinstance(score, bool) or not isinstance(score, int | float) or not 1 <= score <= 10:
        return parse_score(text)
    return JudgeScore(float(score), str(value.get("reason") or "").strip()[:500])


def parse_score(text: str) -> JudgeScore:
    """ "Score: 7", "分數：7", "7/10"; a number outside 1–10 counts as no score."""
    match = _SCORE.search(text) or _OUT_OF.search(text)
    value = float(match.group(1)) if match else None
    if value is not None and not 1 <= value <= 10:
        value = None
    found = _REASON.search(text)
    reason = (found.group(1) if found else text).strip()
    if text.lstrip().startswith("{"):  # JSON that did not parse: drop its closing `"}`
        reason = reason.rstrip('"}').strip()
    return JudgeScore(value, reason[:500])


def parse_winner(text: str) -> str | None:
    """ "A", "B", "tie", or None when the reply names none."""
    match = _WINNER.search(text)
    if match:
        return match.group(1).upper() if match.group(1).lower() != "tie" else "tie"
    bare = text.strip().upper()
    return bare if bare in ("A", "B") else "tie" if bare == "TIE" else None


def _note(refused: dict[int, str]) -> Callable[[int, InvalidRequestError], str]:
    """Record why the judge refused a prompt (too long for its context, usually); its reply
    then holds no score."""

    def record(index: int, error: InvalidRequestError) -> str:
        refused[index] = error.message
        return ""

    return record


def _reference_block(reference: str | None) -> str:
    return f"Reference answer:\n{reference}\n\n" if reference else ""


async def rubric_scores(
    stub: inference_pb2_grpc.InferenceServiceAsyncStub,
    tenant_id: str,
    judge_model: str,
    questions: Sequence[str],
    references: Sequence[str | None],
    answers: Sequence[str],
) -> list[JudgeScore]:
    prompts = [
        [
            {
                "role": "user",
                "content": RUBRIC.format(
                    against=" against the reference answer" if ref else "",
                    question=q,
                    reference=_reference_block(ref),
                    answer=a,
                ),
            }
        ]
        for q, ref, a in zip(questions, references, answers, strict=True)
    ]
    refused: dict[int, str] = {}
    replies = await generate_answers(
        stub,
        tenant_id,
        judge_model,
        prompts,
        JUDGE_SETTINGS,
        on_invalid=_note(refused),
        constraint=RUBRIC_CONSTRAINT,
    )
    return [
        JudgeScore(None, f"the judge could not answer: {refused[i]}")
        if i in refused
        else parse_judgement(r)
        for i, r in enumerate(replies)
    ]


@dataclass(frozen=True)
class PairwiseResult:
    first_model: str
    second_model: str
    wins: dict[str, int]  # model (or "tie" / "unparsed") → count
    per_example: list[str]  # the winner per example: a model name, "tie" or "unparsed"


async def pairwise(
    stub: inference_pb2_grpc.InferenceServiceAsyncStub,
    tenant_id: str,
    judge_model: str,
    models: tuple[str, str],
    questions: Sequence[str],
    references: Sequence[str | None],
    answers: tuple[Sequence[str], Sequence[str]],
    seed: int,
) -> PairwiseResult:
    rng = random.Random(seed)
    swapped = [rng.random() < 0.5 for _ in questions]
    prompts = []
    for i, (q, ref) in enumerate(zip(questions, references, strict=True)):
        first, second = (
            (answers[1][i], answers[0][i]) if swapped[i] else (answers[0][i], answers[1][i])
        )
        content = PAIRWISE.format(
            question=q, reference=_reference_block(ref), first=first, second=second
        )
        prompts.append([{"role": "user", "content": content}])
    replies = await generate_answers(
        stub,
        tenant_id,
        judge_model,
        prompts,
        JUDGE_SETTINGS,
        on_invalid=_note({}),
        constraint=PAIRWISE_CONSTRAINT,
    )
    wins = {models[0]: 0, models[1]: 0, "tie": 0, "unparsed": 0}
    per_example = []
    for reply, swap in zip(replies, swapped, strict=True):
        winner = parse_winner(reply)
        if winner in ("A", "B"):
            index = (0 if winner == "A" else 1) ^ int(swap)
            name = models[index]
        else:
            name = winner or "unparsed"
        wins[name] += 1
        per_example.append(name)
    return PairwiseResult(models[0], models[1], wins, per_example)
