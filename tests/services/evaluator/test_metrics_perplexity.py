"""Perplexity of a tiny real model on reference answers equals exp of the loss of a plain
forward pass over the same tokens, computed here; batching and padding change nothing."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from services.evaluator.metrics.perplexity import encode_example, perplexity
from support.tiny_model import build_tiny_model

EXAMPLES = [
    ([{"role": "user", "content": "公文的主旨怎麼寫？"}], "公文的主旨應簡明扼要。"),
    (
        [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Say the pangram."},
        ],
        "The quick brown fox jumps over the lazy dog.",
    ),
    ([{"role": "user", "content": "Hello"}], "Hello world, hello model, hello adapter."),
    ([{"role": "user", "content": "函是什麼？"}], "函是機關之間往來公文的主要類別。"),
]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any]:
    path = build_tiny_model(Path(tmp_path_factory.mktemp("tiny")) / "model")
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    return model, tokenizer


def plain_loss(model: Any, tokenizer: Any, messages: Any, answer: str) -> tuple[float, int]:
    """HF's own mean cross-entropy over the answer tokens, one unpadded sequence."""
    prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    full = tokenizer.apply_chat_template(
        [*messages, {"role": "assistant", "content": answer}], tokenize=False
    )
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    answer_ids = tokenizer(full[len(prompt) :], add_special_tokens=False)["input_ids"]
    ids = torch.tensor([prompt_ids + answer_ids])
    labels = torch.tensor([[-100] * len(prompt_ids) + answer_ids])
    with torch.no_grad():
        loss = model(input_ids=ids, labels=labels).loss
    return float(loss), len(answer_ids)


def test_scored_tokens_are_the_answer_and_its_end_of_turn(tiny: tuple[Any, Any]) -> None:
    _, tokenizer = tiny
    messages, answer = EXAMPLES[0]
    encoded = encode_example(tokenizer, messages, answer)
    prompt = tokenizer.decode(encoded.input_ids[: encoded.prompt_length])
    scored = tokenizer.decode(encoded.input_ids[encoded.prompt_length :])
    assert prompt.endswith("<|im_start|>assistant\n")
    assert scored == answer + "<|im_end|>\n"
    truncated = encode_example(tokenizer, messages, answer, max_length=encoded.scored_tokens + 2)
    assert truncated.prompt_length == 2
    assert truncated.input_ids[2:] == encoded.input_ids[encoded.prompt_length :]


def test_one_example_equals_exp_of_the_plain_loss(tiny: tuple[Any, Any]) -> None:
    model, tokenizer = tiny
    messages, answer = EXAMPLES[1]
    loss, tokens = plain_loss(model, tokenizer, messages, answer)
    result = perplexity(model, tokenizer, [(messages, answer)])
    assert result.token_count == tokens
    assert result.mean_nll == pytest.approx(loss, rel=1e-5)
    assert result.perplexity == pytest.approx(math.exp(loss), rel=1e-5)


@pytest.mark.parametrize("batch_size", [1, 3, 8])
def test_token_weighted_over_padded_batches(tiny: tuple[Any, Any], batch_size: int) -> None:
    model, tokenizer = tiny
    losses = [plain_loss(model, tokenizer, m, a) for m, a in EXAMPLES]
    total = sum(tokens for _, tokens in losses)
    mean_nll = sum(loss * tokens for loss, tokens in losses) / total
    result = perplexity(model, tokenizer, EXAMPLES, batch_size=batch_size)
    assert result.token_count == total
    assert result.perplexity == pytest.approx(math.exp(mean_nll), rel=1e-5)
    assert result.per_example == pytest.approx([math.exp(loss) for loss, _ in losses], rel=1e-5)
    # Sanity: above 1 (nothing is certain) and finite for a random model.
    assert 1 < result.perplexity < 1e6


def test_leaves_the_model_as_it_found_it(tiny: tuple[Any, Any]) -> None:
    model, tokenizer = tiny
    model.train()
    perplexity(model, tokenizer, EXAMPLES[:1])
    assert model.training
    assert all(p.grad is None for p in model.parameters())
    model.eval()
