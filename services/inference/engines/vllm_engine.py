"""The vLLM engine: one base model served by vLLM's in-process async engine (`AsyncLLM`),
LoRA adapters as per-request `LoRARequest`s, continuous batching across adapters.

vLLM is imported in `start()`, so importing this module needs no vLLM. The engine core
runs in a child process; `start()` takes tens of seconds on a CPU.

Logprobs are vLLM's default `raw_logprobs`: before penalties, temperature and top-k/top-p,
as the other engines give them, except under a grammar: vLLM masks the logits before it
computes them, so a constrained token's logprob is over the tokens the grammar allowed.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import uuid
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.inference.engines.base import (
    BaseModelSpec,
    EngineBase,
    FinishReason,
    GenerationChunk,
    GenerationRequest,
    SamplingSettings,
    TokenLogprob,
    TopLogprob,
)
from services.inference.engines.grammar import hf_token_bytes
from services.inference.engines.prompts import prompt_token_ids
from tuneloop_core.errors import InternalError, InvalidRequestError, NotFoundError
from tuneloop_core.hardware import cpu_has_bf16

# vLLM reads these at import; the defaults suit a CPU host (1 GiB of KV cache, no
# network lookups for the host address, no usage reports).
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
os.environ.setdefault("VLLM_HOST_IP", "127.0.0.1")
os.environ.setdefault("VLLM_NO_USAGE_STATS", "1")

log = logging.getLogger(__name__)

# vLLM's finish reasons as ours: a repetition cut-off is an ordinary stop ("error" raises).
_FINISH_REASONS: dict[str, FinishReason] = {"length": "length", "abort": "abort"}


@dataclass(frozen=True)
class _Adapter:
    int_id: int  # vLLM caches adapters by this id: a reload gets a fresh one
    path: Path


class VllmEngine(EngineBase):
    def __init__(
        self,
        base: BaseModelSpec,
        *,
        dtype: str = "auto",
        max_model_len: int | None = None,
        max_loras: int = 8,
        max_lora_rank: int = 16,
        max_cpu_loras: int | None = None,
    ):
        super().__init__(base)
        self._dtype = dtype
        self._max_model_len = max_model_len
        self._max_loras = max_loras
        self._max_lora_rank = max_lora_rank
        self._max_cpu_loras = max_cpu_loras
        self._llm: Any = None  # vllm.v1.engine.async_llm.AsyncLLM once started
        self._tokenizer: Any = None
        self._token_bytes: list[bytes] = []  # each token's bytes, index = id (logprobs)
        self._adapters: dict[str, _Adapter] = {}
        self._lora_ids = itertools.count(1)  # vLLM requires ids >= 1

    async def start(self) -> None:
        from vllm.engine.arg_utils import AsyncEngineArgs
        from vllm.platforms import current_platform

        on_cpu = current_platform.is_cpu()
        self._dtype = engine_dtype(self._dtype, on_cpu)
        args = AsyncEngineArgs(
            model=str(self._base.path),
            served_model_name=self._base.name,
            dtype=self._dtype,  # type: ignore[arg-type]  # a Literal in vLLM
            max_model_len=self._max_model_len,  # type: ignore[arg-type]  # None = the model's
            enable_lora=True,
            max_loras=self._max_loras,
            max_lora_rank=self._max_lora_rank,  # type: ignore[arg-type]  # 8, 16, 32, 64, …
            max_cpu_loras=self._max_cpu_loras,
            disable_log_stats=True,
            worker_extension_cls=_qualname(CpuLoraFix) if on_cpu else "",
        )
        # Building the engine blocks until its core process is up: keep the loop free.
        self._llm = await asyncio.to_thread(_build_async_llm, args)
        if on_cpu:
            await self._llm.collective_rpc("tuneloop_skip_base_rows_in_lora_ops")
        self._tokenizer = self._llm.get_tokenizer()
        vocab_size = int(self._llm.model_config.get_vocab_size())
        self._token_bytes = await asyncio.to_thread(hf_token_bytes, self._tokenizer, vocab_size)
        self._context_length = int(self._llm.model_config.max_model_len)
        log.info(
            "vLLM serves %s (%s, context %d)", self._base.path, self._dtype, self._context_length
        )

    async def close(self) -> None:
        if self._llm is not None:
            await asyncio.to_thread(self._llm.shutdown)
            self._llm = None

    async def load_adapter(self, name: str, path: Path) -> None:
        from vllm.lora.request import LoRARequest

        config = path / "adapter_config.json"
        if not config.is_file():
            raise InvalidRequestError(f"no PEFT adapter in {path}", param="path")
        rank = int(json.loads(config.read_text()).get("r") or 0)
        if rank > self._max_lora_rank:
            raise InvalidRequestError(
                f"adapter {name} has LoRA rank {rank}, above this server's max_lora_rank "
                f"{self._max_lora_rank}: set TUNELOOP_INFERENCE_MAX_LORA_RANK={rank} (or more) "
                "and restart the inference service",
                param="path",
                code="lora_rank_too_large",
            )
        adapter = _Adapter(next(self._lora_ids), path)
        try:
            await self._llm.add_lora(LoRARequest(name, adapter.int_id, str(path)))
        except Exception as exc:  # a bad rank or module list: the adapter's fault
            raise InvalidRequestError(f"cannot load adapter {name}: {exc}", param="path") from exc
        previous = self._adapters.get(name)
        self._adapters[name] = adapter
        if previous is not None:
            await self._llm.remove_lora(previous.int_id)
        log.info("adapter %s loaded from %s (lora id %d)", name, path, adapter.int_id)

    async def unload_adapter(self, name: str) -> None:
        adapter = self._adapters.pop(name, None)
        if adapter is None:
            raise _model_not_found(name)
        await self._llm.remove_lora(adapter.int_id)

    def count_prompt_tokens(self, request: GenerationRequest) -> int:
        return len(prompt_token_ids(self._tokenizer, request))

    async def generate(self, request: GenerationRequest) -> AsyncGenerator[GenerationChunk, None]:
        from vllm.exceptions import VLLMClientError
        from vllm.inputs import tokens_input

        lora = self._lora_request(request.adapter)
        ids = prompt_token_ids(self._tokenizer, request)
        # Unique per call: vLLM aborts by id, and clients may reuse theirs.
        request_id = f"{request.request_id}-{uuid.uuid4().hex[:8]}"
        stream = self._llm.generate(
            tokens_input(ids),
            _sampling_params(request.sampling, request.grammar),
            request_id,
            lora_request=lora,
        )
        completion_tokens = 0
        finished = False
        s = request.sampling
        try:
            async for output in stream:
                delta = output.outputs[0]
                completion_tokens += len(delta.token_ids)
                chunk = GenerationChunk(text=delta.text, token_ids=list(delta.token_ids))
                if s.logprobs is not None:
                    chunk.logprobs = self._logprobs(delta.logprobs, chunk.token_ids, s.logprobs)
                if s.prompt_logprobs is not None and output.prompt_logprobs:
                    chunk.prompt_logprobs = self._logprobs(
                        output.prompt_logprobs, ids, s.prompt_logprobs
                    )
                if output.finished:
                    finished = True
                    if delta.finish_reason == "error":
                        raise InternalError(f"vLLM failed request {request_id}")
                    chunk.finish_reason = _FINISH_REASONS.get(delta.finish_reason, "stop")
                    chunk.prompt_tokens = len(ids)
                    chunk.completion_tokens = completion_tokens
                if chunk.text or chunk.token_ids or chunk.finish_reason or chunk.prompt_logprobs:
                    yield chunk
        except VLLMClientError as exc:
            raise InvalidRequestError(str(exc), param=getattr(exc, "parameter", None)) from exc
        finally:
            if not finished:  # closed early (GeneratorExit, CancelledError) or failed
                with contextlib.suppress(Exception):
                    await self._llm.abort(request_id)
            await stream.aclose()

    def _logprobs(self, positions: Any, token_ids: list[int], top: int) -> list[TokenLogprob]:
        """vLLM's logprobs of `token_ids` as ours. Each position is a {token id: Logprob}
        (None for the first prompt token) holding the token itself, with its rank in the
        vocabulary, and the `top` most likely tokens, ranks 1 to `top`."""
        if len(positions) != len(token_ids):
            raise InternalError(f"vLLM gave {len(positions)} logprobs for {len(token_ids)} tokens")
        scored = []
        for token, position in zip(token_ids, positions, strict=True):
            if not position:  # None, or {} in vLLM's FlatLogprobs
                scored.append(TokenLogprob(token, self._token_bytes[token], None))
                continue
            ranked = sorted(
                (item for item in position.items() if (item[1].rank or 0) <= top),
                key=lambda item: (item[1].rank or 0, -item[1].logprob),
            )
            alternatives = tuple(
                TopLogprob(i, self._token_bytes[i], lp.logprob) for i, lp in ranked[:top]
            )
            value = position[token].logprob
            scored.append(TokenLogprob(token, self._token_bytes[token], value, alternatives))
        return scored

    def _lora_request(self, name: str | None) -> Any:
        if name is None:
            return None
        from vllm.lora.request import LoRARequest

        adapter = self._adapters.get(name)
        if adapter is None:
            raise _model_not_found(name)
        return LoRARequest(name, adapter.int_id, str(adapter.path))


class CpuLoraFix:
    """Mixed into vLLM's worker class (`worker_extension_cls`) to patch vLLM-CPU 0.32's
    torch LoRA ops in the worker process. They gather each row's adapter weights with its
    slot index, and a base-model row's index is -1, so a base request batched with adapter
    requests silently gets the last slot's adapter (vllm-project/vllm PR #48421, open).
    The GPU kernels skip -1 rows; with the patch the CPU ops leave those rows as well.

    Prompt logprobs meet the same ops with one row per prompt token but one index per
    request of the step: vLLM-CPU fails the whole engine when other requests share it
    (vllm-project/vllm#29955). Those rows keep the base model's lm_head, unless the request
    is alone on an adapter; the GPU kernels do the same (#51594). Tuneloop's adapters never
    train lm_head (trainer/model_setup.py), so their prompt logprobs are exact."""

    def tuneloop_skip_base_rows_in_lora_ops(self) -> None:
        from vllm.lora.ops.torch_ops import lora_ops  # sgmv_* call these through globals
        from vllm.lora.punica_wrapper import punica_cpu  # bgmv_* imported by name

        for name in ("bgmv_shrink", "bgmv_expand", "bgmv_expand_slice"):
            op = getattr(lora_ops, name)
            if getattr(op, "skips_base_rows", False):
                continue
            patched = _skipping_base_rows(op)
            setattr(lora_ops, name, patched)
            setattr(punica_cpu, name, patched)


def _skipping_base_rows(op: Any) -> Any:
    def op_skipping_base_rows(
        inputs: Any, weights: Any, output: Any, indices: Any, *args: Any, **kwargs: Any
    ) -> None:
        if output.shape[0] != indices.shape[0]:  # prompt logprob rows (see CpuLoraFix)
            if indices.shape[0] == 1 and int(indices[0]) >= 0:
                op(inputs, weights, output, indices, *args, **kwargs)  # the one adapter's
            return
        base_rows = indices < 0
        if not bool(base_rows.any()):
            op(inputs, weights, output, indices, *args, **kwargs)
            return
        untouched = output[base_rows].clone()
        op(inputs, weights, output, indices.clamp(min=0), *args, **kwargs)
        output[base_rows] = untouched

    op_skipping_base_rows.skips_base_rows = True  # type: ignore[attr-defined]
    return op_skipping_base_rows


def engine_dtype(setting: str, on_cpu: bool) -> str:
    """The dtype vLLM loads the weights in. "auto" on a CPU is bf16 only where the CPU has
    bf16 instructions: vLLM would take the model's bf16 and run it emulated on an AVX2-only
    host, 4x slower than float32 (tuneloop_core/hardware.py). On a GPU, the model's."""
    if setting != "auto" or not on_cpu:
        return setting
    return "bfloat16" if cpu_has_bf16() else "float32"


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _build_async_llm(args: Any) -> Any:
    from vllm.v1.engine.async_llm import AsyncLLM

    return AsyncLLM.from_engine_args(args)


def _sampling_params(sampling: SamplingSettings, grammar: str | None = None) -> Any:
    from vllm.sampling_params import RequestOutputKind, SamplingParams, StructuredOutputsParams

    greedy = sampling.temperature <= 0
    # vLLM's xgrammar backend enforces the grammar the servicer built (constraints.py).
    structured = StructuredOutputsParams(grammar=grammar) if grammar is not None else None
    return SamplingParams(
        output_kind=RequestOutputKind.DELTA,
        max_tokens=sampling.max_tokens,
        temperature=0.0 if greedy else sampling.temperature,
        top_p=1.0 if greedy else sampling.top_p,
        top_k=0 if greedy else sampling.top_k,  # 0 disables top-k in vLLM too
        stop=list(sampling.stop) or None,
        seed=sampling.seed,
        repetition_penalty=sampling.repetition_penalty or 1.0,
        presence_penalty=sampling.presence_penalty,
        frequency_penalty=sampling.frequency_penalty,
        structured_outputs=structured,
        logprobs=sampling.logprobs,  # the sampled token's, then this many of the best
        prompt_logprobs=sampling.prompt_logprobs,
    )


def _model_not_found(name: str) -> NotFoundError:
    return NotFoundError(
        f"The model '{name}' does not exist", code="model_not_found", param="model"
    )
