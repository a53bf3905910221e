"""Length statistics of a dataset: characters per example, and tokens per example with a
fixed-bin histogram when a tokenizer is given."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from tuneloop_core.datasets.conversation import Conversation

logger = logging.getLogger(__name__)

# Upper bounds (inclusive, tokens) of the histogram bins; one more bin holds the rest.
TOKEN_BINS = (64, 128, 256, 512, 1024, 2048)


class LengthStats(BaseModel):
    """Distribution of per-example lengths; percentiles are nearest-rank."""

    min: int
    mean: float
    p50: int
    p95: int
    max: int

    @classmethod
    def of(cls, lengths: Sequence[int]) -> LengthStats:
        if not lengths:
            raise ValueError("no lengths to summarise")
        ordered = sorted(lengths)
        return cls(
            min=ordered[0],
            mean=round(sum(ordered) / len(ordered), 2),
            p50=_nearest_rank(ordered, 0.50),
            p95=_nearest_rank(ordered, 0.95),
            max=ordered[-1],
        )


class HistogramBin(BaseModel):
    """Examples whose token count is at most `upper` (and above the previous bin's);
    `upper` is None for the last, open-ended bin."""

    label: str
    upper: int | None
    count: int


class TokenStats(BaseModel):
    lengths: LengthStats
    histogram: list[HistogramBin]
    max_length: int | None  # the limit examples were checked against, if any
    over_max_length: int | None  # examples longer than max_length (None without a limit)

    @classmethod
    def of(cls, lengths: Sequence[int], max_length: int | None) -> TokenStats:
        over = sum(1 for n in lengths if n > max_length) if max_length is not None else None
        return cls(
            lengths=LengthStats.of(lengths),
            histogram=token_histogram(lengths),
            max_length=max_length,
            over_max_length=over,
        )


def token_histogram(lengths: Sequence[int]) -> list[HistogramBin]:
    """Counts per bin of TOKEN_BINS: ≤64, ≤128, …, ≤2048, >2048."""
    counts = [0] * (len(TOKEN_BINS) + 1)
    for n in lengths:
        counts[next((i for i, upper in enumerate(TOKEN_BINS) if n <= upper), len(TOKEN_BINS))] += 1
    bins = [
        HistogramBin(label=f"≤{upper}", upper=upper, count=count)
        for upper, count in zip(TOKEN_BINS, counts, strict=False)
    ]
    bins.append(HistogramBin(label=f">{TOKEN_BINS[-1]}", upper=None, count=counts[-1]))
    return bins


class TokenCounter:
    """Counts tokens per conversation the way training sees them: through the tokenizer's
    chat template when it has one, else the turns' text joined by newlines.

    Accepts a Hugging Face tokenizer (anything with `apply_chat_template` and `__call__`,
    e.g. from `AutoTokenizer`) or a `tokenizers.Tokenizer` (`encode_batch`).
    """

    def __init__(self, tokenizer: object):
        self.tokenizer: Any = tokenizer
        self.templated = bool(getattr(tokenizer, "chat_template", None))
        self._template_failed = False

    def count(self, conversations: Sequence[Conversation]) -> list[int]:
        """Token counts of a batch (batches keep the Rust tokenizer busy and fast)."""
        if not conversations:
            return []
        texts = [self._render(conversation) for conversation in conversations]
        if hasattr(self.tokenizer, "encode_batch"):  # tokenizers.Tokenizer
            return [len(enc.ids) for enc in self.tokenizer.encode_batch(texts)]
        # A rendered chat template already holds its special tokens.
        encoded = self.tokenizer(texts, add_special_tokens=not self.templated)
        return [len(ids) for ids in encoded["input_ids"]]

    def _render(self, conversation: Conversation) -> str:
        if self.templated:
            try:
                return str(
                    self.tokenizer.apply_chat_template(conversation.messages(), tokenize=False)
                )
            except Exception as err:  # templates raise their own errors (e.g. no system role)
                if not self._template_failed:
                    logger.warning("chat template failed (%s); counting plain text", err)
                self._template_failed = True
        return "\n".join(turn.content for turn in conversation.turns)


def _nearest_rank(ordered: Sequence[int], quantile: float) -> int:
    return ordered[max(0, math.ceil(quantile * len(ordered)) - 1)]
