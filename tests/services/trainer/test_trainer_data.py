"""Assistant-only labels through the chat template, truncation, and exact packing."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from services.trainer.data import IGNORE, pack, to_tensors, tokenize_conversation
from tuneloop_core.datasets.conversation import Turn


def labelled_text(tokenizer: object, ids: list[int], labels: list[int]) -> list[str]:
    """The decoded runs of consecutive labelled tokens."""
    runs: list[list[int]] = []
    for token, label in zip(ids, labels, strict=True):
        if label == IGNORE:
            if runs and runs[-1]:
                runs.append([])
            continue
        assert label == token
        if not runs:
            runs.append([])
        runs[-1].append(token)
    return [tokenizer.decode(run) for run in runs if run]  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def tokenizer(tiny_base: Path) -> object:
    return AutoTokenizer.from_pretrained(tiny_base)


def test_only_assistant_turns_are_learned(tokenizer: object) -> None:
    turns = [
        Turn("system", "你是公文助理。"),
        Turn("user", "函是什麼？"),
        Turn("assistant", "函是機關往來的公文。"),
        Turn("user", "Hello?"),
        Turn("assistant", "Hello world."),
    ]
    example = tokenize_conversation(tokenizer, turns, 512)
    assert not example.truncated
    assert labelled_text(tokenizer, example.input_ids, example.labels) == [
        "函是機關往來的公文。<|im_end|>\n",
        "Hello world.<|im_end|>\n",
    ]


def test_weight_zero_turns_are_context_only(tokenizer: object) -> None:
    turns = [
        Turn("user", "one"),
        Turn("assistant", "first answer", weight=0),
        Turn("user", "two"),
        Turn("assistant", "second answer"),
    ]
    example = tokenize_conversation(tokenizer, turns, 512)
    assert labelled_text(tokenizer, example.input_ids, example.labels) == [
        "second answer<|im_end|>\n"
    ]


def test_truncation_is_reported(tokenizer: object) -> None:
    turns = [Turn("user", "公文 " * 200), Turn("assistant", "好。")]
    example = tokenize_conversation(tokenizer, turns, 64)
    assert example.truncated and len(example.input_ids) == 64
    assert example.trained_tokens == 0  # the answer was cut off: nothing left to learn


def test_first_fit_packing() -> None:
    from services.trainer.data import Example

    def ex(n: int) -> Example:
        return Example(list(range(1, n + 1)), list(range(1, n + 1)))

    batch = pack([ex(5), ex(4), ex(3), ex(6)], max_seq_length=10, packing=True)
    assert [len(r) for r in batch.input_ids] == [9, 9]
    assert batch.segments == [[(0, 5), (5, 9)], [(0, 3), (3, 9)]]
    assert batch.position_ids[0] == [0, 1, 2, 3, 4, 0, 1, 2, 3]
    unpacked = pack([ex(5), ex(4)], max_seq_length=10, packing=False)
    assert [len(r) for r in unpacked.input_ids] == [5, 4]


def test_packed_rows_compute_exactly_what_separate_examples_do(
    tiny_base: Path, tokenizer: object
) -> None:
    model = AutoModelForCausalLM.from_pretrained(tiny_base, dtype=torch.float32).eval()
    conversations = [
        [Turn("user", "函是什麼？"), Turn("assistant", "機關往來的公文。")],
        [Turn("user", "Hello"), Turn("assistant", "world")],
        [Turn("user", "公告"), Turn("assistant", "對公眾宣布事項。")],
    ]
    examples = [tokenize_conversation(tokenizer, c, 128) for c in conversations]
    packed = pack(examples, 128, packing=True)
    assert len(packed.input_ids) == 1  # all three share one row
    tensors = to_tensors(packed, pad_id=0, dtype=torch.float32)
    with torch.no_grad():
        together = model(
            input_ids=tensors["input_ids"],
            attention_mask=tensors["attention_mask"],
            position_ids=tensors["position_ids"],
        ).logits[0]
        for (start, end), example in zip(packed.segments[0], examples, strict=True):
            alone = model(input_ids=torch.tensor([example.input_ids])).logits[0]
            assert torch.allclose(together[start:end], alone, atol=1e-5)


def test_padding_rows_do_not_produce_nan(tiny_base: Path, tokenizer: object) -> None:
    model = AutoModelForCausalLM.from_pretrained(tiny_base, dtype=torch.float32).eval()
    long = tokenize_conversation(
        tokenizer, [Turn("user", "公文 " * 20), Turn("assistant", "好")], 60
    )
    short = tokenize_conversation(tokenizer, [Turn("user", "hi"), Turn("assistant", "yo")], 60)
    tensors = to_tensors(pack([long, short], 60, packing=False), pad_id=0, dtype=torch.float32)
    with torch.no_grad():
        logits = model(**{k: v for k, v in tensors.items() if k != "labels"}).logits
    assert not torch.isnan(logits).any()
