"""Assistant-only labels through the chat template, truncation, and exact packing
(one row per step, attention within each example)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from services.trainer import attention
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


def test_packing_puts_a_steps_examples_back_to_back_in_one_row() -> None:
    from services.trainer.data import Example

    def ex(n: int) -> Example:
        return Example(list(range(1, n + 1)), list(range(1, n + 1)))

    batch = pack([ex(5), ex(4), ex(3)], packing=True)
    assert [len(r) for r in batch.input_ids] == [12] and batch.packed
    assert batch.segments == [[(0, 5), (5, 9), (9, 12)]]
    assert batch.position_ids[0] == [0, 1, 2, 3, 4, 0, 1, 2, 3, 0, 1, 2]
    assert to_tensors(batch, pad_id=0)["segment_bounds"] == [(0, 5), (5, 9), (9, 12)]
    unpacked = pack([ex(5), ex(4)], packing=False)
    assert [len(r) for r in unpacked.input_ids] == [5, 4] and not unpacked.packed
    tensors = to_tensors(unpacked, pad_id=0)
    assert tensors["segment_bounds"] is None
    assert tensors["input_ids"][1].tolist() == [1, 2, 3, 4, 0]
    assert tensors["labels"][1].tolist() == [1, 2, 3, 4, IGNORE]


def segment_model(path: Path, dtype: torch.dtype = torch.float32) -> object:
    return AutoModelForCausalLM.from_pretrained(
        path, dtype=dtype, attn_implementation=attention.register()
    ).eval()


CONVERSATIONS = [
    [Turn("user", "函是什麼？"), Turn("assistant", "機關往來的公文。")],
    [Turn("user", "Hello"), Turn("assistant", "world")],
    [Turn("user", "公告 " * 12), Turn("assistant", "對公眾宣布事項。")],
]


@pytest.mark.parametrize("eager_max", [attention.EAGER_MAX, 50, 0], ids=["eager", "mixed", "sdpa"])
def test_a_packed_row_computes_exactly_what_separate_examples_do(
    tiny_base: Path, tokenizer: object, eager_max: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The examples are 42, 23 and 111 tokens long: all eager, two eager and one SDPA, all SDPA.
    monkeypatch.setattr(attention, "EAGER_MAX", eager_max)
    model = segment_model(tiny_base)
    examples = [tokenize_conversation(tokenizer, c, 128) for c in CONVERSATIONS]
    lengths = [len(e.input_ids) for e in examples]
    assert eager_max in (0, attention.EAGER_MAX) or min(lengths) <= eager_max < max(lengths)
    packed = pack(examples, packing=True)
    tensors = to_tensors(packed, pad_id=0)
    with torch.no_grad():
        together = model(  # type: ignore[operator]
            input_ids=tensors["input_ids"],
            position_ids=tensors["position_ids"],
            segment_bounds=tensors["segment_bounds"],
        ).logits[0]
        for (start, end), example in zip(packed.segments[0], examples, strict=True):
            alone = model(input_ids=torch.tensor([example.input_ids])).logits[0]  # type: ignore[operator]
            assert torch.allclose(together[start:end], alone, atol=1e-5)
        # Without the bounds the examples would see each other: the check above can fail.
        mixed = model(input_ids=tensors["input_ids"]).logits[0]  # type: ignore[operator]
        start, end = packed.segments[0][1]
        assert not torch.allclose(mixed[start:end], together[start:end], atol=1e-3)


def test_padded_rows_compute_what_separate_examples_do(tiny_base: Path, tokenizer: object) -> None:
    model = segment_model(tiny_base)
    examples = [tokenize_conversation(tokenizer, c, 128) for c in CONVERSATIONS]
    tensors = to_tensors(pack(examples, packing=False), pad_id=0)
    with torch.no_grad():
        logits = model(  # type: ignore[operator]
            input_ids=tensors["input_ids"], position_ids=tensors["position_ids"]
        ).logits
        assert not torch.isnan(logits).any()
        for row, example in enumerate(examples):
            alone = model(input_ids=torch.tensor([example.input_ids])).logits[0]  # type: ignore[operator]
            assert torch.allclose(logits[row, : len(example.input_ids)], alone, atol=1e-5)
