"""The transformers + PEFT engine: one base model, several named LoRA adapters switched per
batch, batched generation for requests that share an adapter and sampling settings.

Light (no extra install) and exact: the fallback when vLLM is missing and the engine the
fast tests use. One worker thread owns the model, so adapter switches never race.

Logprobs (logprobs.py) come from the raw logits, before the repetition penalty, the grammar
mask and temperature: a logits processor keeps them for the rows of a batch that asked.
Prompt logprobs take one more forward pass over the prompt, only for a request that asks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import deque
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.inference.engines.base import (
    BaseModelSpec,
    EngineBase,
    GenerationChunk,
    GenerationRequest,
    SamplingSettings,
    TokenLogprob,
)
from services.inference.engines.batch_stream import BatchStream, RowSpec
from services.inference.engines.grammar import (
    GrammarCompiler,
    GrammarLogitsProcessor,
    GrammarMask,
)
from services.inference.engines.logprobs import (
    PROMPT_ROWS,
    first_prompt_token,
    next_token_logprobs,
)
from services.inference.engines.prompts import eos_token_ids, prompt_token_ids
from tuneloop_core.errors import InvalidRequestError, NotFoundError, ServiceUnavailableError

log = logging.getLogger(__name__)


@dataclass
class _Job:
    request: GenerationRequest
    prompt_ids: list[int]
    queue: asyncio.Queue[GenerationChunk | BaseException]
    loop: asyncio.AbstractEventLoop
    cancelled: threading.Event = field(default_factory=threading.Event)

    def key(self) -> tuple[object, ...]:
        """Requests with equal keys can share one generate() call."""
        s = self.request.sampling
        return (self.request.adapter, s.temperature, s.top_p, s.top_k, s.seed, s.repetition_penalty)

    def send(self, item: GenerationChunk | BaseException) -> None:
        self.loop.call_soon_threadsafe(self.queue.put_nowait, item)


def _torch_dtype(name: str) -> Any:
    import torch

    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "auto": torch.float32}[name]


class TransformersEngine(EngineBase):
    def __init__(self, base: BaseModelSpec, *, dtype: str = "auto", max_batch_size: int = 8):
        super().__init__(base)
        self._dtype = dtype
        self.max_batch_size = max_batch_size
        self._model: Any = None
        self._tokenizer: Any = None
        self._eos: set[int] = set()
        self._grammars: GrammarCompiler | None = None
        self._adapters: dict[str, Path] = {}
        self._pending: deque[_Job] = deque()
        self._wakeup = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await asyncio.to_thread(self._load)
        self._worker = asyncio.create_task(self._serve())

    def _load(self) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self._tokenizer = AutoTokenizer.from_pretrained(self._base.path)
        model: Any = AutoModelForCausalLM.from_pretrained(
            self._base.path, dtype=_torch_dtype(self._dtype)
        )
        model.eval()
        self._model = model
        self._eos = eos_token_ids(self._tokenizer, model.generation_config)
        vocab = int(model.get_output_embeddings().weight.shape[0])
        self._grammars = GrammarCompiler.for_hf(self._tokenizer, vocab, self._eos)
        self._context_length = int(getattr(model.config, "max_position_embeddings", 2048))
        log.info("loaded %s from %s (%s)", self._base.name, self._base.path, self._dtype)

    async def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        # Requests still queued would wait forever: fail them, naming why.
        gone = ServiceUnavailableError(f"the model '{self._base.name}' was unloaded")
        while self._pending:
            queued = self._pending.popleft()
            if isinstance(queued, _Exclusive):
                queued.done.set_exception(gone)
            else:
                queued.send(gone)

    async def load_adapter(self, name: str, path: Path) -> None:
        await self._run_exclusive(self._load_adapter_sync, name, path)
        self._adapters[name] = path

    def _load_adapter_sync(self, name: str, path: Path) -> None:
        from peft import PeftModel

        if not (path / "adapter_config.json").is_file():
            raise InvalidRequestError(f"no PEFT adapter in {path}", param="path")
        if isinstance(self._model, PeftModel):
            if name in self._model.peft_config:
                self._model.delete_adapter(name)
            self._model.load_adapter(str(path), adapter_name=name)
        else:
            self._model = PeftModel.from_pretrained(self._model, str(path), adapter_name=name)
        self._model.eval()

    async def unload_adapter(self, name: str) -> None:
        if self._adapters.pop(name, None) is None:
            raise NotFoundError(f"The model '{name}' does not exist", code="model_not_found")
        await self._run_exclusive(self._delete_adapter_sync, name)

    def _delete_adapter_sync(self, name: str) -> None:
        self._model.delete_adapter(name)
        remaining = list(self._model.peft_config)
        if remaining:  # PEFT keeps pointing at the deleted adapter otherwise
            self._model.set_adapter(remaining[0])
        else:
            self._model = self._model.unload()  # back to the plain base model

    async def _run_exclusive(self, fn: Any, *args: Any) -> None:
        """Run `fn` on the model while no batch is generating (the worker holds it)."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.appendleft(_Exclusive(fn, args, done))  # type: ignore[arg-type]
        self._wakeup.set()
        await done

    def count_prompt_tokens(self, request: GenerationRequest) -> int:
        return len(prompt_token_ids(self._tokenizer, request))

    async def generate(self, request: GenerationRequest) -> AsyncGenerator[GenerationChunk, None]:
        if request.adapter is not None and request.adapter not in self._adapters:
            raise NotFoundError(
                f"The model '{request.adapter}' does not exist", code="model_not_found"
            )
        for param in ("presence_penalty", "frequency_penalty"):
            if getattr(request.sampling, param):
                raise InvalidRequestError(
                    f"{param} is not supported by the transformers engine; "
                    "use repetition_penalty or the vLLM engine",
                    param=param,
                    code="unsupported_parameter",
                )
        ids = prompt_token_ids(self._tokenizer, request)
        loop = asyncio.get_running_loop()
        job = _Job(request, ids, asyncio.Queue(), loop)
        self._pending.append(job)
        self._wakeup.set()
        try:
            while True:
                item = await job.queue.get()
                if isinstance(item, BaseException):
                    raise item
                yield item
                if item.finish_reason is not None:
                    return
        finally:
            job.cancelled.set()  # stops this row at the next step if still running

    async def _serve(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._pending:
                head = self._pending.popleft()
                if isinstance(head, _Exclusive):
                    await head.run()
                    continue
                batch = self._take_batch(head)
                try:
                    await asyncio.to_thread(self._generate_batch, batch)
                except Exception as exc:  # a failed batch fails its requests, not the engine
                    log.exception("generation failed")
                    for job in batch:
                        job.send(exc)

    def _take_batch(self, head: _Job) -> list[_Job]:
        batch = [head]
        for job in list(self._pending):
            if len(batch) >= self.max_batch_size:
                break
            if isinstance(job, _Job) and job.key() == head.key():
                self._pending.remove(job)
                batch.append(job)
        return [j for j in batch if not j.cancelled.is_set()]

    def _generate_batch(self, batch: list[_Job]) -> None:
        if not batch:
            return
        import torch
        from transformers.generation.logits_process import RepetitionPenaltyLogitsProcessor

        sampling = batch[0].request.sampling
        width = max(len(j.prompt_ids) for j in batch)
        pad = self._tokenizer.pad_token_id
        pad = pad if pad is not None else next(iter(self._eos))
        input_ids = torch.tensor(
            [[pad] * (width - len(j.prompt_ids)) + j.prompt_ids for j in batch]
        )
        attention = torch.tensor(
            [[0] * (width - len(j.prompt_ids)) + [1] * len(j.prompt_ids) for j in batch]
        )
        adapter = batch[0].request.adapter
        assert self._grammars is not None
        mask = GrammarMask(
            [self._grammars.matcher(j.request.grammar) for j in batch], self._grammars.vocab_size
        )
        with self._adapter_context(adapter), torch.inference_mode():
            stream = BatchStream(
                self._tokenizer,
                self._eos,
                [
                    RowSpec(
                        j.request.sampling,
                        len(j.prompt_ids),
                        j.cancelled,
                        j.send,
                        self._prompt_logprobs(j.prompt_ids, j.request.sampling.prompt_logprobs),
                    )
                    for j in batch
                ],
                self._grammars.token_bytes,
            )
            # In this order: logprobs see the raw logits, the grammar masks penalised ones
            # (then generate() applies temperature, top-k and top-p).
            penalty = sampling.repetition_penalty or 1.0
            processors = [
                stream.logits_keeper(),
                RepetitionPenaltyLogitsProcessor(penalty) if penalty != 1.0 else None,
                GrammarLogitsProcessor(mask) if mask.active else None,
            ]
            if sampling.seed is not None:
                torch.manual_seed(sampling.seed)
            self._model.generate(
                input_ids=input_ids,
                attention_mask=attention,
                max_new_tokens=max(j.request.sampling.max_tokens for j in batch),
                streamer=stream,
                stopping_criteria=[stream.stopping_criteria()],
                pad_token_id=pad,
                logits_processor=[p for p in processors if p is not None],
                **_sampling_kwargs(sampling),
            )
        stream.finish_all()

    def _prompt_logprobs(self, ids: list[int], top: int | None) -> list[TokenLogprob]:
        """One forward pass over the prompt alone, with the batch's adapter (or none), if
        the request asked for prompt logprobs."""
        if top is None or not ids:
            return []
        import torch

        assert self._grammars is not None
        token_bytes = self._grammars.token_bytes
        logits = self._model(input_ids=torch.tensor([ids]), use_cache=False).logits[0]
        scored = [first_prompt_token(ids[0], token_bytes)]
        for start in range(0, len(ids) - 1, PROMPT_ROWS):
            targets = ids[start + 1 : start + 1 + PROMPT_ROWS]
            scored += next_token_logprobs(logits[start:], targets, top, token_bytes)
        return scored

    def _adapter_context(self, adapter: str | None) -> Any:
        from peft import PeftModel

        if not isinstance(self._model, PeftModel):
            return contextlib.nullcontext()
        if adapter is None:
            return self._model.disable_adapter()
        self._model.set_adapter(adapter)
        return contextlib.nullcontext()


def _sampling_kwargs(sampling: SamplingSettings) -> dict[str, Any]:
    # The repetition penalty is one of our logits processors (after the logprobs see the
    # logits); 1.0 keeps the model's generation config from adding its own.
    if sampling.temperature <= 0:
        return {
            "do_sample": False,
            "temperature": None,
            "top_p": None,
            "top_k": None,
            "repetition_penalty": 1.0,
        }
    return {
        "do_sample": True,
        "temperature": sampling.temperature,
        "top_p": sampling.top_p,
        "top_k": sampling.top_k,  # 0 disables top-k (transformers' default would be 50)
        "repetition_penalty": 1.0,
    }


@dataclass
class _Exclusive:
    """Work that must not overlap a batch (loading or deleting an adapter)."""

    fn: Any
    args: tuple[Any, ...]
    done: asyncio.Future[None]

    async def run(self) -> None:
        try:
            await asyncio.to_thread(self.fn, *self.args)
        except Exception as exc:
            self.done.set_exception(exc)
        else:
            self.done.set_result(None)
