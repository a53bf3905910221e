"""Preference pairs → labelled sequences → a step's batch: labels on the final answer only,
each pair's prompt computed once when packed, and the same per-sequence log-probs packed
(prompt shared), one per row, and scored one sequence at a time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from services.trainer.attention import register
from services.trainer.data import IGNORE
from services.trainer.dpo_loss import sequence_logps
from services.trainer.preference import pair_batch, shared_prefix, tokenize_pair
from tests.services.trainer.dpo_support import PAIRS


@pytest.fixture(scope="module")
def tokenizer(tiny_base: Path) -> Any:
    return AutoTokenizer.from_pretrained(tiny_base)


def answer_text(tokenizer: Any, ids: list[int], labels: list[int]) -> str:
    return tokenizer.decode([i for i, label in zip(ids, labels, strict=True) if label != IGNORE])


def test_only_the_final_answer_is_labelled(tokenizer: Any) -> None:
    pair = PAIRS[4]  # an earlier exchange in the prompt: "Hello" → "Hello world."
    example = tokenize_pair(tokenizer, pair, 128)
    assert answer_text(tokenizer, example.chosen.input_ids, example.chosen.labels) == (
        f"{pair.chosen}<|im_end|>\n"
    )
    assert answer_text(tokenizer, example.rejected.input_ids, example.rejected.labels) == (
        f"{pair.rejected}<|im_end|>\n"
    )
    first = example.chosen.labels.index(next(x for x in example.chosen.labels if x != IGNORE))
    assert shared_prefix(example) == first - 1  # the whole prompt but its last token


def test_a_packed_batch_shares_each_prompt(tokenizer: Any) -> None:
    examples = [tokenize_pair(tokenizer, p, 128) for p in PAIRS[:3]]
    batch = pair_batch(examples, packing=True, pad_id=0)
    total = sum(e.tokens for e in examples)
    shared = sum(shared_prefix(e) for e in examples)
    assert batch["input_ids"].shape == (1, total - shared)
    assert len(batch["segment_bounds"]) == 9  # a prompt and two answers per pair
    assert sorted(set(batch["sequence_ids"][0].tolist())) == [-1, 0, 1, 2, 3, 4, 5]
    labelled = batch["labels"][0] != IGNORE
    assert (batch["sequence_ids"][0][labelled] >= 0).all()


def test_packed_unpacked_and_one_by_one_give_the_same_log_probs(
    tiny_base: Path, tokenizer: Any
) -> None:
    model = AutoModelForCausalLM.from_pretrained(
        tiny_base, dtype=torch.float32, attn_implementation=register()
    )
    examples = [tokenize_pair(tokenizer, p, 128) for p in PAIRS]
    with torch.no_grad():
        packed = sequence_logps(model, pair_batch(examples, packing=True, pad_id=0))
        rows = sequence_logps(model, pair_batch(examples, packing=False, pad_id=0))
        single = [sequence_logps(model, pair_batch([e], packing=False, pad_id=0)) for e in examples]
    alone = torch.cat([torch.stack([s[0] for s in single]), torch.stack([s[1] for s in single])])
    assert torch.allclose(packed, alone, atol=1e-4)
    assert torch.allclose(rows, alone, atol=1e-4)
    assert (alone < 0).all()
