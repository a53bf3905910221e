"""Conversations → token ids with assistant-only labels → packed training rows.

Labels: the loss covers only assistant turns (content and end-of-turn token) whose weight
is 1; everything else is -100. The chat template decides the text; character offsets map
each assistant span back to its tokens, so any template works without special tags.

Packing: the examples of one step go back to back into one row; restarted position ids
and attention within each example's own span (`services.trainer.attention`) keep them
independent (equal logits to running them one by one), so nothing is spent on padding or
on scores between different examples.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tuneloop_core.datasets.conversation import Role, Turn

IGNORE = -100


@dataclass
class Example:
    input_ids: list[int]
    labels: list[int]
    truncated: bool = False

    @property
    def trained_tokens(self) -> int:
        return sum(1 for label in self.labels if label != IGNORE)


def _render(tokenizer: Any, turns: Sequence[Turn], generation_prompt: bool) -> str:
    messages = [{"role": str(t.role), "content": t.content} for t in turns]
    text: str = tokenizer.apply_chat_template(
        messages, tokenize=False, add_generation_prompt=generation_prompt
    )
    return text


def tokenize_conversation(tokenizer: Any, turns: Sequence[Turn], max_seq_length: int) -> Example:
    """Token ids and labels of one conversation (truncated to `max_seq_length`)."""
    full = _render(tokenizer, turns, generation_prompt=False)
    spans = []
    for index, turn in enumerate(turns):
        if turn.role != "assistant" or not turn.weight:
            continue
        start = len(_render(tokenizer, turns[:index], generation_prompt=True))
        end = len(_render(tokenizer, turns[: index + 1], generation_prompt=False))
        spans.append((start, end))
    encoded = tokenizer(full, add_special_tokens=False, return_offsets_mapping=True)
    ids = [int(i) for i in encoded["input_ids"]]
    labels = [IGNORE] * len(ids)
    for position, (char_start, char_end) in enumerate(encoded["offset_mapping"]):
        inside = any(start <= char_start and char_end <= end for start, end in spans)
        if inside and char_end > char_start:
            labels[position] = ids[position]
    truncated = len(ids) > max_seq_length
    return Example(ids[:max_seq_length], labels[:max_seq_length], truncated)


def unlearned_stop(tokenizer: Any, stops: set[int]) -> str | None:
    """Why a model tuned on this chat template would never learn to stop, or None: the
    trained (labelled) tokens of an answer must include a token the engines stop at."""
    probe = [Turn(Role.USER, "a"), Turn(Role.ASSISTANT, "b")]
    trained = {label for label in tokenize_conversation(tokenizer, probe, 1 << 16).labels}
    if trained & stops:
        return None
    names = ", ".join(str(t) for t in tokenizer.convert_ids_to_tokens(sorted(stops)))
    return (
        f"the chat template ends an answer with no token the model stops at ({names or 'none'}):"
        " a model tuned on it would never stop answering; fix the tokenizer's chat template "
        "or its eos_token"
    )


@dataclass
class PackedBatch:
    """Rows of examples: ids, labels, position ids, and where each example sits in its row."""

    input_ids: list[list[int]]
    labels: list[list[int]]
    position_ids: list[list[int]]
    segments: list[list[tuple[int, int]]]  # (start, end) of each example in its row

    @property
    def width(self) -> int:
        return max(len(row) for row in self.input_ids)

    @property
    def packed(self) -> bool:
        return len(self.input_ids) == 1 and len(self.segments[0]) > 1


def pack(examples: Sequence[Example], packing: bool) -> PackedBatch:
    """All of a step's examples back to back in one row, or one example per row when
    packing is off. Examples are already cut to the maximum sequence length; a packed row
    needs no limit of its own, as attention stays within each example
    (`services.trainer.attention`)."""
    rows = [list(examples)] if packing else [[example] for example in examples]
    batch = PackedBatch([], [], [], [])
    for row in rows:
        ids: list[int] = []
        labels: list[int] = []
        positions: list[int] = []
        segments: list[tuple[int, int]] = []
        for example in row:
            segments.append((len(ids), len(ids) + len(example.input_ids)))
            ids += example.input_ids
            labels += example.labels
            positions += list(range(len(example.input_ids)))
        batch.input_ids.append(ids)
        batch.labels.append(labels)
        batch.position_ids.append(positions)
        batch.segments.append(segments)
    return batch


def to_tensors(batch: PackedBatch, pad_id: int) -> dict[str, Any]:
    """Tensors for `causal_lm_loss`: ids, labels and position ids, rows padded on the right
    (causal attention never looks at the padding after a row's last example), and the
    example bounds of a packed row (`segment_bounds`, None for one example per row)."""
    import torch

    width = batch.width
    rows = len(batch.input_ids)
    input_ids = torch.full((rows, width), pad_id, dtype=torch.long)
    labels = torch.full((rows, width), IGNORE, dtype=torch.long)
    positions = torch.zeros((rows, width), dtype=torch.long)
    for r in range(rows):
        n = len(batch.input_ids[r])
        input_ids[r, :n] = torch.tensor(batch.input_ids[r])
        labels[r, :n] = torch.tensor(batch.labels[r])
        positions[r, :n] = torch.tensor(batch.position_ids[r])
    return {
        "input_ids": input_ids,
        "labels": labels,
        "position_ids": positions,
        "segment_bounds": batch.segments[0] if batch.packed else None,
    }
