"""Fans the tokens of one batched `generate()` out to each request's stream.

transformers calls `put()` with the prompt once, then with one token per row at every
step; the stopping criteria read back which rows are done (EOS, a stop string, their own
max_tokens, or their client went away), so finished rows stop costing work. Rows that asked
for logprobs get them from the raw logits a logits processor keeps at each step.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from transformers.generation.logits_process import LogitsProcessor
from transformers.generation.stopping_criteria import StoppingCriteria
from transformers.generation.streamers import BaseStreamer

from services.inference.engines.base import (
    FinishReason,
    GenerationChunk,
    SamplingSettings,
    TokenLogprob,
)
from services.inference.engines.detokenize import StreamingText
from services.inference.engines.logprobs import next_token_logprobs

Send = Callable[[GenerationChunk], None]


@dataclass
class RowSpec:
    """One request in the batch."""

    sampling: SamplingSettings
    prompt_tokens: int
    cancelled: threading.Event
    send: Send
    prompt_logprobs: list[TokenLogprob] = field(default_factory=list)  # for the first chunk


class _Row:
    def __init__(self, tokenizer: Any, spec: RowSpec):
        self.spec = spec
        self.max_tokens = spec.sampling.max_tokens
        self.top_logprobs = spec.sampling.logprobs  # None: no logprobs for this row
        self.text = StreamingText(tokenizer, spec.sampling.stop)
        self.done = False
        self._prompt_logprobs = spec.prompt_logprobs

    @property
    def cancelled(self) -> bool:
        return self.spec.cancelled.is_set()

    def send(self, chunk: GenerationChunk) -> None:
        chunk.prompt_logprobs, self._prompt_logprobs = self._prompt_logprobs, []
        self.spec.send(chunk)

    def finish(
        self,
        reason: FinishReason,
        text: str = "",
        token_ids: list[int] | None = None,
        logprobs: list[TokenLogprob] | None = None,
    ) -> None:
        self.done = True
        self.send(
            GenerationChunk(
                text=text,
                token_ids=token_ids or [],
                finish_reason=reason,
                prompt_tokens=self.spec.prompt_tokens,
                completion_tokens=len(self.text.token_ids),
                logprobs=logprobs or [],
            )
        )


class BatchStream(BaseStreamer):
    def __init__(
        self,
        tokenizer: Any,
        eos: set[int],
        rows: list[RowSpec],
        token_bytes: Sequence[bytes],  # each token's bytes, index = id (for logprobs)
    ):
        self._rows = [_Row(tokenizer, spec) for spec in rows]
        self._eos = eos
        self._prompt_seen = False
        self._token_bytes = token_bytes
        # Rows that asked for logprobs, and the raw logits of just those at the last step.
        self._scored = [i for i, row in enumerate(self._rows) if row.top_logprobs is not None]
        self._slot = {row: slot for slot, row in enumerate(self._scored)}
        self._logits: Any = None

    def put(self, value: Any) -> None:
        if not self._prompt_seen:
            self._prompt_seen = True
            return
        for index, token in enumerate(value.reshape(-1).tolist()):
            row = self._rows[index]
            if not row.done:
                self._advance(row, int(token), self._logprobs(index, int(token)))

    def _logprobs(self, index: int, token: int) -> list[TokenLogprob]:
        row = self._rows[index]
        if row.top_logprobs is None or row.done or row.cancelled:
            return []
        logits = self._logits[self._slot[index]][None]
        return next_token_logprobs(logits, [token], row.top_logprobs, self._token_bytes)

    def _advance(self, row: _Row, token: int, logprobs: list[TokenLogprob]) -> None:
        if row.cancelled:
            row.finish("abort")
            return
        if token in self._eos:
            row.text.token_ids.append(token)  # counted, like vLLM does, but never shown
            row.finish("stop", row.text.flush(), [token], logprobs)
            return
        delta = row.text.add(token)
        if row.text.stopped:
            row.finish("stop", delta, [token], logprobs)
        elif len(row.text.token_ids) >= row.max_tokens:
            row.finish("length", delta + row.text.flush(), [token], logprobs)
        else:
            row.send(GenerationChunk(text=delta, token_ids=[token], logprobs=logprobs))

    def end(self) -> None:
        """Called by generate() when it stops; rows still open are settled in finish_all."""

    def finish_all(self) -> None:
        for row in self._rows:
            if not row.done:
                row.finish("abort" if row.cancelled else "length", row.text.flush())

    def logits_keeper(self) -> LogitsProcessor | None:
        """A logits processor to run before any other (penalties, the grammar mask): it
        keeps the raw logits of the rows that asked for logprobs. None if none did."""
        if not self._scored:
            return None
        stream, scored = self, self._scored

        class _KeepRawLogits(LogitsProcessor):
            def __call__(self, input_ids: Any, scores: Any) -> Any:
                # A copy (indexing by a list): later processors mask `scores` in place.
                stream._logits = scores[scored]
                return scores

        return _KeepRawLogits()

    def stopping_criteria(self) -> StoppingCriteria:
        rows = self._rows

        class _RowsDone(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                import torch

                return torch.tensor([r.done or r.cancelled for r in rows], device=input_ids.device)

        return _RowsDone()
