"""Preference files from people's votes and from a judge: OpenAI's preference JSONL
(`input.messages`, `preferred_output`, `non_preferred_output`), uploaded as a `fine-tune`
file that a DPO job takes as it is.

From a comparison, the answer with the most thumbs-up on a question is preferred to every
answer of that question with fewer; a question nobody voted on, or whose top answers tie,
is left out, and so is a pair whose two answers read the same (DPO cannot learn from it).
From an evaluation, the judge's pairwise winner is preferred to the other model's answer;
each line says it came from the judge."""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from services.gateway.files.protocol import FileObject
from services.gateway.files.service import upload
from services.gateway.registry.comparisons import AnswerTally
from services.gateway.registry.models import Tenant
from services.gateway.state import GatewayState
from tuneloop_core.comparison_answers import ComparisonAnswers
from tuneloop_core.datasets.writers import preference_line
from tuneloop_core.errors import ConflictError

Turns = list[dict[str, str]]


@dataclass
class Preferences:
    lines: list[dict[str, Any]] = field(default_factory=list)
    left_out: dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str) -> None:
        self.left_out[reason] = self.left_out.get(reason, 0) + 1

    def add(self, prompt: Turns, chosen: str, rejected: str, metadata: dict[str, str]) -> None:
        if chosen.strip() == rejected.strip():
            self.skip("identical_answers")
            return
        try:
            line = preference_line(prompt, chosen, rejected)
        except ValueError:  # an empty answer: nothing a DPO job could take
            self.skip("empty_answers")
            return
        self.lines.append({**line, "metadata": metadata})


class PreferenceFileObject(FileObject):
    """The uploaded file, with what went into it and what was left out and why."""

    pairs: int
    left_out: dict[str, int]
    source: str  # "votes" or "judge"


def _prompt(question: str, system: str) -> Turns:
    turns = [{"role": "system", "content": system}] if system else []
    return [*turns, {"role": "user", "content": question}]


def from_votes(
    comparison_id: str, answers: ComparisonAnswers, tallies: Sequence[AnswerTally], system: str
) -> Preferences:
    votes = {(t.question_index, t.model): t.votes for t in tallies}
    out = Preferences()
    for q, question in enumerate(answers.questions):
        counts = [votes.get((q, model), 0) for model in answers.models]
        top = max(counts)
        if top == 0:
            out.skip("no_votes")
            continue
        if counts.count(top) > 1:
            out.skip("ties")
            continue
        best = counts.index(top)
        for m, count in enumerate(counts):
            if count < top:
                out.add(
                    _prompt(question, system),
                    answers.answers[q][best],
                    answers.answers[q][m],
                    {
                        "source": "votes",
                        "comparison": comparison_id,
                        "preferred_model": answers.models[best],
                        "non_preferred_model": answers.models[m],
                    },
                )
    return out


def from_judge(evaluation_id: str, results: dict[str, Any]) -> Preferences:
    judge = results.get("judge") or {}
    pairwise = judge.get("pairwise")
    if not pairwise:
        raise ConflictError(
            f"Evaluation {evaluation_id} has no pairwise judge verdicts: create it with a "
            "judge_model and judge_pairwise",
            param="evaluation_id",
            code="no_pairwise_judge",
        )
    first, second = pairwise["first_model"], pairwise["second_model"]
    out = Preferences()
    for example in results.get("examples", []):
        winner = example.get("pairwise_winner")
        if winner not in (first, second):
            out.skip("ties" if winner == "tie" else "no_verdict")
            continue
        loser = second if winner == first else first
        outputs = example["outputs"]
        out.add(
            _prompt(example["question"], ""),
            outputs[winner]["prediction"],
            outputs[loser]["prediction"],
            {
                "source": "judge",
                "judge_model": str(judge.get("model", "")),
                "evaluation": evaluation_id,
                "preferred_model": winner,
                "non_preferred_model": loser,
            },
        )
    return out


async def save(
    state: GatewayState, tenant: Tenant, preferences: Preferences, filename: str, source: str
) -> PreferenceFileObject:
    """Upload the lines as a `fine-tune` file; 409 when there is not one pair."""
    if not preferences.lines:
        shown = ", ".join(f"{n} {reason}" for reason, n in preferences.left_out.items())
        raise ConflictError(
            f"There is no preference pair to write ({shown or 'nothing to compare'})",
            code="no_preference_pairs",
        )
    body = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in preferences.lines)
    file = await upload(state, tenant, io.BytesIO(body.encode()), filename, "fine-tune")
    return PreferenceFileObject(
        **file.model_dump(),
        pairs=len(preferences.lines),
        left_out=preferences.left_out,
        source=source,
    )
