"""Per-token logprobs from raw logits, for the engines that see the logits themselves
(transformers, llama.cpp; vLLM computes its own).

The values are the log-softmax of the logits as the model gives them: before any
repetition penalty, grammar mask, temperature or top-k/top-p, as vLLM's default
`raw_logprobs`. So a greedy free-text token is its position's most likely one, and a token
a grammar forced still shows how likely the model found it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from services.inference.engines.base import TokenLogprob, TopLogprob

PROMPT_ROWS = 256  # prompt positions scored at a time: log-softmax memory is rows × vocab


def first_prompt_token(token_id: int, token_bytes: Sequence[bytes]) -> TokenLogprob:
    """The first prompt token: nothing before it, so no logprob and no alternatives."""
    return TokenLogprob(token_id, token_bytes[token_id], None)


def next_token_logprobs(
    logits: Any, next_ids: Sequence[int], top: int, token_bytes: Sequence[bytes]
) -> list[TokenLogprob]:
    """Row i of `logits` (a torch tensor, rows × vocab, raw) is the distribution `next_ids[i]`
    was drawn from; each entry has that token's logprob and the `top` most likely tokens,
    most likely first. Rows past `len(next_ids)` are ignored."""
    import torch

    if not next_ids:
        return []
    logprobs = torch.log_softmax(logits[: len(next_ids)].float(), dim=-1)
    chosen = logprobs.gather(1, torch.tensor(next_ids, dtype=torch.long)[:, None])[:, 0].tolist()
    best_values: list[list[float]] = [[] for _ in next_ids]
    best_ids: list[list[int]] = [[] for _ in next_ids]
    if top > 0:
        values, indices = logprobs.topk(min(top, logprobs.shape[-1]), dim=-1)
        best_values, best_ids = values.tolist(), indices.tolist()
    return [
        TokenLogprob(
            token_id=token,
            token_bytes=token_bytes[token],
            logprob=value,
            top=tuple(
                TopLogprob(i, token_bytes[i], v) for i, v in zip(alt_ids, alt_values, strict=True)
            ),
        )
        for token, value, alt_ids, alt_values in zip(
            next_ids, chosen, best_ids, best_values, strict=True
        )
    ]
