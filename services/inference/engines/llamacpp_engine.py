"""The llama.cpp engine: serves a GGUF file (an export) through llama-cpp-python, so people
can chat with exactly the quantised weights Ollama will run.

A GGUF export is already merged, so this engine serves the base only (no LoRA adapters).
Its chat template is the one the converter stored in the GGUF, rendered with Jinja as
transformers would (tools and tool turns as prompts.py writes them for every engine). One
llama.cpp context serves one request at a time, in a thread.

A request's grammar is enforced with xgrammar, as on the transformers engine: a logits
processor masks the tokens the grammar forbids before llama.cpp samples. llama.cpp's own
GBNF cannot read xgrammar's EBNF (lookaheads, structural tags), so it is not used.

Logprobs come from the same logits processor, which sees the raw logits before the grammar
mask and llama.cpp's penalties (logprobs.py). Prompt logprobs take the prompt's logits at
every position from one pass of our own over the prompt, which then stays in the KV cache
for the generation: llama-cpp-python only keeps them with `logits_all=True` at load time,
which would cost a vocabulary-wide row per context position on every request.
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
    EngineBase,
    GenerationChunk,
    GenerationRequest,
    TokenLogprob,
)
from services.inference.engines.detokenize import StreamingText
from services.inference.engines.grammar import GrammarCompiler, GrammarMask
from services.inference.engines.logprobs import first_prompt_token, next_token_logprobs
from services.inference.engines.prompts import render_chat
from tuneloop_core.errors import InvalidRequestError, NotFoundError, ServiceUnavailableError

log = logging.getLogger(__name__)
DEFAULT_MAX_CONTEXT = 4096  # tokens; llama.cpp allocates the KV cache for all of it
# What the sampling thread sends: the prompt's logprobs (first, if asked), each token with
# its logprob (if asked), an error, None at the end.
_Sent = list[TokenLogprob] | tuple[int, list[TokenLogprob]] | BaseException | None


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


class _ScoresHook:
    """A llama.cpp logits processor: keeps the raw logits for logprobs (`keep`), then sets
    the scores of the tokens `mask` forbids to -inf.

    llama.cpp calls it through ctypes, which prints and drops exceptions; one is kept in
    `error` for the sampling loop to raise, so a broken mask never passes as free text."""

    def __init__(self, vocab_size: int, mask: GrammarMask | None, keep: bool):
        self._vocab_size = vocab_size
        self.mask = mask
        self._keep = keep
        self.logits: Any = None  # the raw logits of the last step (1 × vocab), if kept
        self.error: BaseException | None = None

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import numpy as np
        import torch

        try:
            if scores.shape != (self._vocab_size,):
                raise RuntimeError(f"llama.cpp gave {scores.shape} scores for the vocabulary")
            # `scores` is a strided view into llama.cpp's candidates; work on a float32 copy.
            logits = torch.from_numpy(np.ascontiguousarray(scores, dtype=np.float32))
            if self._keep:
                self.logits = logits.clone().unsqueeze(0)
            if self.mask is None:
                return scores
            self.mask.apply(logits.unsqueeze(0))
            return logits.numpy()
        except BaseException as exc:  # re-raised by the sampling loop
            self.error = self.error or exc
            return scores


def token_pieces(vocab: Any, special: bool = False) -> list[bytes]:
    """Each token's bytes as it appears in text (index = id); for control tokens b"", or
    with `special` their own text (`<|im_end|>`, as logprobs show them)."""
    import llama_cpp

    pieces = []
    size = 256
    buffer = ctypes.create_string_buffer(size)
    for token in range(llama_cpp.llama_vocab_n_tokens(vocab)):
        n = llama_cpp.llama_token_to_piece(vocab, token, buffer, size, 0, special)
        if n < 0:  # the piece needs -n bytes
            size = -n
            buffer = ctypes.create_string_buffer(size)
            n = llama_cpp.llama_token_to_piece(vocab, token, buffer, size, 0, special)
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


class LlamaCppEngine(EngineBase):
    def __init__(self, base: BaseModelSpec, *, max_model_len: int | None = None, threads: int = 0):
        super().__init__(base)
        self._max_model_len = max_model_len
        self._threads = threads
        self._llm: Any = None
        self._vocab: Any = None  # llama.cpp's vocabulary handle: which tokens end a turn
        self._template: _ChatTemplate | None = None
        self._grammars: GrammarCompiler | None = None
        self._pieces: list[bytes] = []  # each token's bytes, index = id (token_pieces)
        self._token_bytes: list[bytes] = []  # the same with control tokens' text: logprobs
        self._lock = asyncio.Lock()

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
        self._token_bytes = token_pieces(self._vocab, special=True)
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
            queue: asyncio.Queue[_Sent] = asyncio.Queue()
            stop = threading.Event()
            worker = asyncio.create_task(
                asyncio.to_thread(self._sample, ids, request, stop, loop, queue)
            )
            text = StreamingText(PieceDetokenizer(self._pieces), request.sampling.stop)
            # Tokens gather in `chunk` until they make text (a partial character waits).
            chunk = GenerationChunk()
            count = 0
            try:
                while (item := await queue.get()) is not None:
                    if isinstance(item, BaseException):
                        raise item
                    if isinstance(item, list):
                        chunk.prompt_logprobs = item
                        continue
                    token, logprobs = item
                    count += 1
                    chunk.token_ids.append(token)
                    chunk.logprobs += logprobs
                    chunk.text = text.add(token)
                    if text.stopped:
                        break
                    if chunk.text:
                        yield chunk
                        chunk = GenerationChunk()
                done = text.stopped or count < request.sampling.max_tokens
                chunk.text += text.flush()
                chunk.finish_reason = "stop" if done else "length"
                chunk.prompt_tokens = len(ids)
                chunk.completion_tokens = count
                yield chunk
            finally:
                stop.set()
                await worker

    def _score(self, ids: list[int], top: int) -> list[TokenLogprob]:
        """Prompt logprobs: the prompt evaluated with logits kept at every position, in
        batches as `Llama.eval` does it (llama-cpp-python's own context and batch), so that
        generate() finds the prompt cached and replays only its last token."""
        import numpy as np
        import torch

        llm = self._llm
        llm.reset()
        llm._ctx.kv_cache_seq_rm(-1, 0, -1)
        scored = [first_prompt_token(ids[0], self._token_bytes)]
        for start in range(0, len(ids), llm.n_batch):
            batch = ids[start : start + llm.n_batch]
            llm._batch.set_batch(batch=batch, n_past=start, logits_all=True)
            llm._ctx.decode(llm._batch)
            logits = np.ctypeslib.as_array(
                llm._ctx.get_logits(), shape=(len(batch), len(self._token_bytes))
            )
            llm.input_ids[start : start + len(batch)] = batch
            llm.n_tokens += len(batch)
            targets = ids[start + 1 : start + 1 + len(batch)]
            scored += next_token_logprobs(torch.from_numpy(logits), targets, top, self._token_bytes)
        return scored

    def _sample(
        self,
        ids: list[int],
        request: GenerationRequest,
        stop: threading.Event,
        loop: asyncio.AbstractEventLoop,
        queue: asyncio.Queue[_Sent],
    ) -> None:
        import llama_cpp

        s = request.sampling
        try:
            if s.prompt_logprobs is not None and ids:
                scored = self._score(ids, s.prompt_logprobs)
                loop.call_soon_threadsafe(queue.put_nowait, scored)
            hook = self._scores_hook(request)
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
                logits_processor=llama_cpp.LogitsProcessorList([hook]) if hook else None,
            )
            for produced, token in enumerate(tokens, start=1):
                if hook is not None and hook.error is not None:
                    raise hook.error
                if stop.is_set() or llama_cpp.llama_vocab_is_eog(self._vocab, token):
                    break
                if hook is not None and hook.mask is not None:
                    hook.mask.accept([token])
                logprobs: list[TokenLogprob] = []
                if hook is not None and s.logprobs is not None:
                    logprobs = next_token_logprobs(
                        hook.logits, [int(token)], s.logprobs, self._token_bytes
                    )
                loop.call_soon_threadsafe(queue.put_nowait, (int(token), logprobs))
                if produced >= s.max_tokens or len(ids) + produced >= self._context_length:
                    break
        except Exception as exc:
            loop.call_soon_threadsafe(queue.put_nowait, exc)
        loop.call_soon_threadsafe(queue.put_nowait, None)

    def _scores_hook(self, request: GenerationRequest) -> _ScoresHook | None:
        """The logits processor a request needs: for its grammar's mask (compiled here, in
        the sampling thread: a new grammar takes up to a second) and for its logprobs."""
        keep = request.sampling.logprobs is not None
        if request.grammar is None and not keep:
            return None
        assert self._grammars is not None
        mask = None
        if request.grammar is not None:
            matcher = self._grammars.matcher(request.grammar)
            mask = GrammarMask([matcher], self._grammars.vocab_size)
        return _ScoresHook(self._grammars.vocab_size, mask, keep)
