"""Preference pairs → two tokenised sequences each → one batch per step.

A pair is a prompt (turns) with a preferred answer (`chosen`) and a non-preferred one
(`rejected`). Each answer is rendered after the prompt with the chat template, as SFT
renders a conversation (`services.trainer.data.tokenize_conversation`), and labelled on
the answer only (its content and end-of-turn token): earlier assistant turns of the prompt
condition the answer but are not trained on.

A step's batch numbers each position with the sequence it belongs to (chosen…, then
rejected…), so the DPO step can sum log-probabilities per sequence. Packed, it is one row
in which each pair's prompt appears once, followed by its two answers, each attending to
the prompt and to itself (`services.trainer.attention`): the prompt is computed once per
pair, not twice, with the same logits. Unpacked, it is one sequence per row, padded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.trainer.data import IGNORE, Example, pack, to_tensors, tokenize_conversation
from tuneloop_core.datasets.conversation import PreferencePair, Role, Turn
from tuneloop_core.datasets.validation import read_preference_pairs


def read_pairs(path: Path, param: str) -> list[PreferencePair]:
    """Every pair of a preference file; a file that is not one, or has a bad line, raises
    the reader's `InvalidRequestError` naming the line."""
    return read_preference_pairs(path, param=param)


@dataclass
class PairExample:
    chosen: Example
    rejected: Example

    @property
    def tokens(self) -> int:
        return len(self.chosen.input_ids) + len(self.rejected.input_ids)

    @property
    def truncated(self) -> bool:
        return self.chosen.truncated or self.rejected.truncated


def tokenize_pair(tokenizer: Any, pair: PreferencePair, max_seq_length: int) -> PairExample:
    """Prompt + chosen and prompt + rejected, each cut to `max_seq_length` tokens."""
    prompt = [Turn(t.role, t.content, 0) if t.role is Role.ASSISTANT else t for t in pair.prompt]
    return PairExample(
        tokenize_conversation(
            tokenizer, [*prompt, Turn(Role.ASSISTANT, pair.chosen)], max_seq_length
        ),
        tokenize_conversation(
            tokenizer, [*prompt, Turn(Role.ASSISTANT, pair.rejected)], max_seq_length
        ),
    )


def shared_prefix(pair: PairExample) -> int:
    """How many leading tokens the two sequences can share: the same ids, and short of the
    token before each first label (it predicts that label, so it stays in each answer)."""
    chosen, rejected = pair.chosen, pair.rejected
    common = 0
    for a, b in zip(chosen.input_ids, rejected.input_ids, strict=False):
        if a != b:
            break
        common += 1
    return max(0, min(common, _first_label(chosen) - 1, _first_label(rejected) - 1))


def _first_label(example: Example) -> int:
    return next(i for i, label in enumerate(example.labels) if label != IGNORE)


def pair_batch(pairs: Sequence[PairExample], packing: bool, pad_id: int) -> dict[str, Any]:
    """`data.to_tensors`' tensors of the pairs plus `sequence_ids`: for each position, the
    index of its sequence (pair i's chosen answer is i, its rejected one len(pairs) + i;
    -1 on a shared prompt and on padding)."""
    import torch

    if not packing:
        sequences = [p.chosen for p in pairs] + [p.rejected for p in pairs]
        tensors = to_tensors(pack(sequences, False), pad_id)
        ids = torch.full(tensors["input_ids"].shape, -1, dtype=torch.long)
        for row, sequence in enumerate(sequences):
            ids[row, : len(sequence.input_ids)] = row
        tensors["sequence_ids"] = ids
        return tensors
    input_ids: list[int] = []
    labels: list[int] = []
    positions: list[int] = []
    sequence_ids: list[int] = []
    bounds: list[tuple[int, ...]] = []
    for i, pair in enumerate(pairs):
        shared = shared_prefix(pair)
        start = len(input_ids)
        if shared:
            bounds.append((start, start + shared))
            input_ids += pair.chosen.input_ids[:shared]
            labels += [IGNORE] * shared
            positions += list(range(shared))
            sequence_ids += [-1] * shared
        for number, answer in ((i, pair.chosen), (len(pairs) + i, pair.rejected)):
            begin = len(input_ids)
            n = len(answer.input_ids) - shared
            bounds.append(
                (begin, begin + n, start, start + shared) if shared else (begin, begin + n)
            )
            input_ids += answer.input_ids[shared:]
            labels += answer.labels[shared:]
            positions += list(range(shared, len(answer.input_ids)))
            sequence_ids += [number] * n
    return {
        "input_ids": torch.tensor([input_ids]),
        "labels": torch.tensor([labels]),
        "position_ids": torch.tensor([positions]),
        "segment_bounds": bounds,
        "sequence_ids": torch.tensor([sequence_ids]),
    }
