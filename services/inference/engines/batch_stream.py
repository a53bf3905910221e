"""Fans the tokens of one batched `generate()` out to each request's stream.

transformers calls `put()` with the prompt once, then with one token per row at every
step; the stopping criteria read back which rows are done (EOS, a stop string, their own
max_tokens, or their client went away), so finished rows stop costing work.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from transformers.generation.stopping_criteria import StoppingCriteria
from transformers.generation.streamers import BaseStreamer

from services.inference.engines.base import FinishReason, GenerationChunk, SamplingSettings
from services.inference.engines.detokenize import StreamingText

Send = Callable[[GenerationChunk], None]
RowSpec = tuple[SamplingSettings, int, threading.Event, Send]


class _Row:
    def __init__(self, tokenizer: Any, spec: RowSpec):
        sampling, self.prompt_tokens, self.cancelled, self.send = spec
        self.max_tokens = sampling.max_tokens
        self.text = StreamingText(tokenizer, sampling.stop)
        self.done = False

    def finish(
        self, reason: FinishReason, text: str = "", token_ids: list[int] | None = None
    ) -> None:
        self.done = True
        self.send(
            GenerationChunk(
                text=text,
                token_ids=token_ids or [],
                finish_reason=reason,
                prompt_tokens=self.prompt_tokens,
                completion_tokens=len(self.text.token_ids),
            )
        )


class BatchStream(BaseStreamer):
    def __init__(self, tokenizer: Any, eos: set[int], rows: list[RowSpec]):
        self._rows = [_Row(tokenizer, spec) for spec in rows]
        self._eos = eos
        self._prompt_seen = False

    def put(self, value: Any) -> None:
        if not self._prompt_seen:
            self._prompt_seen = True
            return
        for row, token in zip(self._rows, value.reshape(-1).tolist(), strict=True):
            if not row.done:
                self._advance(row, int(token))

    def _advance(self, row: _Row, token: int) -> None:
        if row.cancelled.is_set():
            row.finish("abort")
            return
        if token in self._eos:
            row.text.token_ids.append(token)  # counted, like vLLM does, but never shown
            row.finish("stop", row.text.flush(), [token])
            return
        delta = row.text.add(token)
        if row.text.stopped:
            row.finish("stop", delta, [token])
        elif len(row.text.token_ids) >= row.max_tokens:
            row.finish("length", delta + row.text.flush(), [token])
        else:
            row.send(GenerationChunk(text=delta, token_ids=[token]))

    def end(self) -> None:
        """Called by generate() when it stops; rows still open are settled in finish_all."""

    def finish_all(self) -> None:
        for row in self._rows:
            if not row.done:
                row.finish("abort" if row.cancelled.is_set() else "length", row.text.flush())

    def stopping_criteria(self) -> StoppingCriteria:
        rows = self._rows

        class _RowsDone(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                import torch

                return torch.tensor(
                    [r.done or r.cancelled.is_set() for r in rows], device=input_ids.device
                )

        return _RowsDone()
