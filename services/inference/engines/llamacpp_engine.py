"""The llama.cpp engine: serves a GGUF file (an export) through llama-cpp-python, so people
can chat with exactly the quantised weights Ollama will run.

A GGUF export is already merged, so this engine serves the base only (no LoRA adapters).
Its chat template is the one the converter stored in the GGUF, rendered with Jinja as
transformers would (tools and tool turns as prompts.py writes them for every engine). One
llama.cpp context serves one request at a time, in a thread.

A request's grammar is enforced with xgrammar, as on the transformers engine: a logits
processor masks the tokens the grammar forbids before llama.cpp samples. llama.cpp's own
GBNF cannot read xgrammar's EBNF (lookaheads, structural tags), so it is not used.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import threading
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

from services.inference.engines.base import (
    BaseModelSpec,
    FinishReason,
    GenerationChunk,
    GenerationRequest,
)
from services.inference.engines.detokenize import StreamingText
from services.inference.engines.grammar import GrammarCompiler, GrammarMask
from services.inference.engines.prompts import render_chat
from tuneloop_core.errors import InvalidRequestError, NotFoundError, ServiceUnavailableError

log = logging.getLogger(__name__)
DEFAULT_MAX_CONTEXT = 4096  # tokens; llama.cpp allocates the KV cache for all of it


class PieceDetokenizer:
    """The `decode` StreamingText expects, from each token's bytes (`token_pieces`).
    llama-cpp-python's own detokenize reads a piece into 32 bytes and gives b"" for a
    longer one (SmolLM2 has 47, runs of spaces that indent code)."""

    def __init__(self, pieces: list[bytes]):
        self._pieces = pieces

    def decode(self, ids: list[int], skip_special_tokens: bool = True) -> str:
        # A control token's piece is b"": it is skipped whatever skip_special_tokens says
        # (StreamingText always skips them).
        return b"".join(self._pieces[i] for i in ids).decode("utf-8", errors="replace")


class _ChatTemplate:
    """What prompts.render_chat needs of a tokenizer, over the GGUF's chat template."""

    def __init__(self, template: str | None, formatter: Any):
        self.chat_template = template
        self._formatter = formatter

    def apply_chat_template(
        self,
        turns: list[dict[str, Any]],
        add_generation_prompt: bool,
        tokenize: bool,
        tools: list[dict[str, Any]] | None = None,
    ) -> str:
        return str(self._formatter(messages=turns, tools=tools).prompt)


class _GrammarScores:
    """A llama.cpp logits processor: the scores of the tokens `mask` forbids become -inf.

    llama.cpp calls it through ctypes, which prints and drops exceptions; one is kept in
    `error` for the sampling loop to raise, so a broken mask never passes as free text."""

    def __init__(self, mask: GrammarMask, vocab_size: int):
        self._mask = mask
        self._vocab_size = vocab_size
        self.error: BaseException | None = None

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import numpy as np
        import torch

        try:
            if scores.shape != (self._vocab_size,):
                raise RuntimeError(f"llama.cpp gave {scores.shape} scores for the grammar mask")
            # `scores` is a strided view into llama.cpp's candidates; mask a float32 copy.
            logits = torch.from_numpy(np.ascontiguousarray(scores, dtype=np.float32))
            self._mask.apply(logits.unsqueeze(0))
            return logits.numpy()
        except BaseException as exc:  # re-raised by the sampling loop
            self.error = self.error or exc
            return scores


def token_pieces(vocab: Any) -> list[bytes]:
    """Each token's bytes as it appears in text (index = id); b"" for control tokens."""
    import llama_cpp

    pieces = []
    size = 256
    buffer = ctypes.create_string_buffer(size)
    for token in range(llama_cpp.llama_vocab_n_tokens(vocab)):
        n = llama_cpp.llama_token_to_piece(vocab, token, buffer, size, 0, False)
        if n < 0:  # the piece needs -n bytes
            size = -n
            buffer = ctypes.create_string_buffer(size)
            n = llama_cpp.llama_token_to_piece(vocab, token, buffer, size, 0, False)
        pieces.append(buffer.raw[:n])
    return pieces


def gguf_file(path: Path) -> Path:
    """`path` itself, or the one .gguf file in the directory `path` (an export's folder)."""
    if path.is_file():
        return path
    found = sorted(path.glob("*.gguf")) if path.is_dir() else []
    if len(found) != 1:
        raise InvalidRequestError(
            f"{path} must be a .gguf file or a directory with exactly one (found {len(found)})",
            param="model",
        )
    return found[0]


class LlamaCppEngine:
    def __init__(self, base: BaseModelSpec, *, max_model_len: int | None = None, threads: int = 0):
        self._base = base
        self._max_model_len = max_model_len
        self._threads = threads
        self._llm: Any = None
        self._vocab: Any = None  # llama.cpp's vocabulary handle: which tokens end a turn
        self._template: _ChatTemplate | None = None
        self._grammars: GrammarCompiler | None = None
        self._pieces: list[bytes] = []  # each token's bytes, index = id (token_pieces)
        self._lock = asyncio.Lock()
        self._context_length = 0

    @property
    def base(self) -> BaseModelSpec:
        return self._base

    @property
    def context_length(self) -> int:
        return self._context_length

    async def start(self) -> None:
        await asyncio.to_thread(self._load)

    def _load(self) -> None:
        try:
            import llama_cpp
            from llama_cpp import Llama
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter
        except ImportError as exc:
            raise ServiceUnavailableError(
                "llama-cpp-python is not installed; run `make setup` (it builds it once)"
            ) from exc
        path = gguf_file(self._base.path)
        probe = Llama(model_path=str(path), vocab_only=True, verbose=False)
        trained = int(
            probe.metadata.get(f"{probe.metadata['general.architecture']}.context_length", 0)
        )
        probe.close()
        n_ctx = min(trained or DEFAULT_MAX_CONTEXT, self._max_model_len or DEFAULT_MAX_CONTEXT)
        self._llm = Llama(
            model_path=str(path), n_ctx=n_ctx, n_threads=self._threads or None, verbose=False
        )
        self._context_length = int(self._llm.n_ctx())
        self._vocab = llama_cpp.llama_model_get_vocab(self._llm.model)
        template = self._llm.metadata.get("tokenizer.chat_template")
        formatter = None
        if template:
            formatter = Jinja2ChatFormatter(
                template,
                eos_token=self._token_text(self._llm.token_eos()),
                bos_token=self._token_text(self._llm.token_bos()),
            )
        self._template = _ChatTemplate(template or None, formatter)
        self._pieces = token_pieces(self._vocab)
        eog = {t for t in range(len(self._pieces)) if llama_cpp.llama_vocab_is_eog(self._vocab, t)}
        self._grammars = GrammarCompiler.for_token_bytes(self._pieces, eog)
        log.info("llama.cpp serves %s from %s (context %d)", self._base.name, path, n_ctx)

    def _token_text(self, token: int) -> str:
        if token < 0:
            return ""
        raw: bytes = self._llm.detokenize([token], special=True)
        return raw.decode("utf-8", errors="replace")

    async def close(self) -> None:
        if self._llm is not None:
            async with self._lock:
                self._llm.close()
                self._llm = None

    async def load_adapter(self, name: str, path: Path) -> None:
        raise InvalidRequestError(
            f"{self._base.name} is a GGUF served by llama.cpp; export the adapter to its own "
            "GGUF instead (POST /v1/exports)",
            param="model",
            code="adapters_unsupported",
        )

    async def unload_adapter(self, name: str) -> None:
        raise NotFoundError(f"The model '{name}' does not exist", code="model_not_found")

    def _prompt_ids(self, request: GenerationRequest) -> list[int]:
        if request.messages:
            text = render_chat(self._template, request)
            # As with transformers: the rendered template carries its own special tokens.
            return list(self._llm.tokenize(text.encode(), add_bos=False, special=True))
        if request.prompt is None:
            raise InvalidRequestError("a prompt or messages are required", param="prompt")
        return list(self._llm.tokenize(request.prompt.encode(), add_bos=True, special=False))

    def count_prompt_tokens(self, request: GenerationRequest) -> int:
        return len(self._prompt_ids(request))

    async def generate(self, request: GenerationRequest) -> AsyncGenerator[GenerationChunk, None]:
        if request.adapter is not None:
            raise NotFoundError(
                f"The model '{request.adapter}' does not exist", code="model_not_found"
            )
        async with self._lock:  # one llama.cpp context: one request at a time
            ids = self._prompt_ids(request)
            loop = asyncio.get_running_loop()
            queue: asyncio.Queue[int | BaseException | None] = asyncio.Queue()
            stop = threading.Event()
            worker = asyncio.create_task(
                asyncio.to_thread(self._sample, ids, request, stop, loop, queue)
            )
            text = StreamingText(PieceDetokenizer(self._pieces), request.sampling.stop)
            count = 0
            try:
                while (item := await queue.get()) is not None:
                    if isinstance(item, BaseException):
                        raise item
                    count += 1
                    delta = text.add(item)
                    if text.stopped:
                        break
                    if delta:
                        yield GenerationChunk(text=delta, token_ids=[item])
                done = text.stopped or count < request.sampling.max_tokens
                finish: FinishReason = "stop" if done else "length"
                yield GenerationChunk(
                    text=text.flush(),
                    finish_reason=finish,
                    prompt_tokens=len(ids),
                    completion_tokens=count,
                )
            finally:
                stop.set()
                await worker

    def _sample(
        self,
        ids: list[int],
        request: GenerationRequest,
        stop: threading.Event,
        loop: asyncio.AbstractEventLoop,
        queue: asyncio.Queue[int | BaseException | None],
    ) -> None:
        import llama_cpp

        s = request.sampling
        try:
            mask, scores = self._grammar_mask(request.grammar)
            if s.seed is not None:
                self._llm.set_seed(s.seed)
            tokens = self._llm.generate(
                ids,
                top_k=s.top_k,
                top_p=s.top_p,
                min_p=0.0,
                temp=s.temperature,
                repeat_penalty=s.repetition_penalty,
                frequency_penalty=s.frequency_penalty,
                presence_penalty=s.presence_penalty,
                logits_processor=llama_cpp.LogitsProcessorList([scores])
                if scores is not None
                else None,
            )
            for produced, token in enumerate(tokens, start=1):
                if scores is not None and scores.error is not None:
                    raise scores.error
                if stop.is_set() or llama_cpp.llama_vocab_is_eog(self._vocab, token):
                    break
                if mask is not None:
                    mask.accept([token])
                loop.call_soon_threadsafe(queue.put_nowait, int(token))
                if produced >= s.max_tokens or len(ids) + produced >= self._context_length:
                    break
        except Exception as exc:
            loop.call_soon_threadsafe(queue.put_nowait, exc)
        loop.call_soon_threadsafe(queue.put_nowait, None)

    def _grammar_mask(
        self, grammar: str | None
    ) -> tuple[GrammarMask | None, _GrammarScores | None]:
        """The mask that holds the output to `grammar` (compiled here, in the sampling
        thread: a new grammar takes up to a second), and its logits processor."""
        if grammar is None:
            return None, None
        assert self._grammars is not None
        mask = GrammarMask([self._grammars.matcher(grammar)], self._grammars.vocab_size)
        return mask, _GrammarScores(mask, self._grammars.vocab_size)
