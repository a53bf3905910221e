"""Perplexity of a causal LM on reference answers: exp of the mean negative log-likelihood
(nats per token) of the answer tokens given the chat-templated prompt, weighted by tokens
over all examples.

The tokens are the ones the model would produce at inference: the prompt rendered with
the chat template and `add_generation_prompt=True`, tokenized as is (what the inference
service does), then the rest of the conversation the template renders with the answer —
the answer and the template's end-of-turn marker, which the trainer's loss also covers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

Messages = Sequence[Mapping[str, str]]  # chat turns: {"role": ..., "content": ...}
IGNORE = -100


@dataclass(frozen=True)
class EncodedExample:
    input_ids: list[int]
    prompt_length: int  # tokens before the first scored one

    @property
    def scored_tokens(self) -> int:
        return len(self.input_ids) - self.prompt_length


@dataclass(frozen=True)
class PerplexityResult:
    perplexity: float  # exp(mean_nll)
    mean_nll: float  # nats per reference token, over all examples
    token_count: int  # reference tokens scored
    per_example: tuple[float, ...]  # each example's own perplexity (nan without tokens)


def encode_example(
    tokenizer: Any, messages: Messages, answer: str, max_length: int | None = None
) -> EncodedExample:
    """Prompt and answer tokens of one example. Past `max_length` tokens, the start of the
    prompt is dropped so the answer is kept."""
    turns = [dict(turn) for turn in messages]
    prompt: str = tokenizer.apply_chat_template(turns, add_generation_prompt=True, tokenize=False)
    full: str = tokenizer.apply_chat_template(
        [*turns, {"role": "assistant", "content": answer}], tokenize=False
    )
    if not full.startswith(prompt):
        raise ValueError("the chat template does not render the prompt as a prefix")
    prompt_ids = [int(i) for i in tokenizer(prompt, add_special_tokens=False)["input_ids"]]
    answer_ids = [
        int(i) for i in tokenizer(full[len(prompt) :], add_special_tokens=False)["input_ids"]
    ]
    ids = prompt_ids + answer_ids
    prompt_length = len(prompt_ids)
    if max_length is not None and len(ids) > max_length:
        dropped = len(ids) - max_length
        ids = ids[dropped:]
        prompt_length = max(prompt_length - dropped, 0)
    return EncodedExample(ids, prompt_length)


def _batch_nll(
    model: torch.nn.Module, batch: Sequence[EncodedExample], pad_id: int, device: torch.device
) -> list[float]:
    """Summed NLL (nats) of each example's scored tokens."""
    width = max(len(example.input_ids) for example in batch)
    input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(batch), width), dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE, dtype=torch.long)
    for row, example in enumerate(batch):
        n = len(example.input_ids)
        input_ids[row, :n] = torch.tensor(example.input_ids)
        attention_mask[row, :n] = 1
        labels[row, example.prompt_length : n] = input_ids[row, example.prompt_length : n]
    input_ids, attention_mask = input_ids.to(device), attention_mask.to(device)
    logits = model(input_ids=input_ids, attention_mask=attention_mask).logits
    # Position t predicts token t + 1; only scored positions are upcast (vocab-wide float32
    # logits for a whole batch would be large).
    targets = labels[:, 1:].to(device)
    scored = targets != IGNORE
    token_nll = F.cross_entropy(logits[:, :-1][scored].float(), targets[scored], reduction="none")
    rows = scored.nonzero()[:, 0]
    sums = torch.zeros(len(batch), dtype=torch.float64, device=device)
    sums.index_add_(0, rows, token_nll.double())
    return [float(value) for value in sums.cpu()]


def perplexity(
    model: torch.nn.Module,
    tokenizer: Any,
    examples: Sequence[tuple[Messages, str]],
    *,
    batch_size: int = 8,
    max_length: int | None = None,
) -> PerplexityResult:
    """Token-weighted perplexity of `model` on (prompt messages, reference answer) pairs,
    computed in batches without gradients (the model is put in eval mode meanwhile)."""
    if not examples:
        raise ValueError("no examples to score")
    encoded = [encode_example(tokenizer, m, answer, max_length) for m, answer in examples]
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    device = next(model.parameters()).device
    # Similar lengths share a batch, so little is spent on padding.
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i].input_ids))
    nll = [0.0] * len(encoded)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                indices = order[start : start + batch_size]
                sums = _batch_nll(model, [encoded[i] for i in indices], pad_id, device)
                for index, value in zip(indices, sums, strict=True):
                    nll[index] = value
    finally:
        model.train(was_training)
    counts = [example.scored_tokens for example in encoded]
    total = sum(counts)
    if total == 0:
        raise ValueError("the references have no tokens to score")
    mean_nll = math.fsum(nll) / total
    per_example = tuple(
        math.exp(value / count) if count else math.nan
        for value, count in zip(nll, counts, strict=True)
    )
    return PerplexityResult(math.exp(mean_nll), mean_nll, total, per_example)
