"""Text completions through the inference service (no FastAPI here)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import replace

from services.gateway.chat.protocol import Usage
from services.gateway.clients import ServiceClients
from services.gateway.completions.protocol import (
    MAX_PROMPTS,
    Completion,
    CompletionChoice,
    CompletionLogprobs,
    CompletionRequest,
)
from services.gateway.generation import Delta, Sampling, generate_choices, new_request_id
from services.gateway.logprobs import TokenLogprob, char_offsets
from services.gateway.structured.response_format import output_constraint
from tuneloop.inference.v1 import inference_pb2
from tuneloop_core.errors import InvalidRequestError


def _check(req: CompletionRequest) -> list[str]:
    if req.suffix:
        raise InvalidRequestError(
            "suffix is not supported", param="suffix", code="unsupported_parameter"
        )
    if req.max_tokens == 0 and not req.echo:
        raise InvalidRequestError(
            "max_tokens must be at least 1 (0 only with echo, to score the prompt)",
            param="max_tokens",
        )
    if req.best_of not in (None, 1, req.n):
        raise InvalidRequestError("best_of is not supported", param="best_of")
    prompts = req.prompts()
    if len(prompts) > MAX_PROMPTS:
        raise InvalidRequestError(f"at most {MAX_PROMPTS} prompts per request", param="prompt")
    return prompts


def _sampling(req: CompletionRequest) -> Sampling:
    # The inference contract has no "score only": max_tokens 0 asks for one token, dropped
    # in _echoed.
    max_tokens = 1 if req.max_tokens == 0 else req.max_tokens
    prompt_logprobs = req.logprobs if req.echo else None
    return req.sampling(max_tokens, logprobs=req.logprobs, prompt_logprobs=prompt_logprobs)


def _deltas(
    clients: ServiceClients, req: CompletionRequest, tenant_id: str
) -> AsyncIterator[Delta]:
    prompts = _check(req)
    sampling = _sampling(req)
    request_id = new_request_id("cmpl")
    constraint = output_constraint(req.response_format, req.structured_outputs)
    requests = [
        inference_pb2.GenerateRequest(
            model=req.model,
            prompt=p,
            request_id=request_id,
            tenant_id=tenant_id,
            constraint=constraint,
        )
        for p in prompts
    ]
    deltas = generate_choices(clients, requests, sampling, req.n)
    return _echoed(req, prompts, deltas) if req.echo else deltas


async def _echoed(
    req: CompletionRequest, prompts: list[str], deltas: AsyncIterator[Delta]
) -> AsyncIterator[Delta]:
    """Each choice starts with its prompt, as a delta of its own carrying the prompt tokens'
    logprobs; with max_tokens 0, what was generated is dropped."""
    echoed: set[int] = set()
    async for delta in deltas:
        if delta.index not in echoed:
            echoed.add(delta.index)
            prompt = prompts[delta.index // req.n]
            yield Delta(index=delta.index, text=prompt, logprobs=delta.prompt_logprobs)
        if req.max_tokens == 0:
            if delta.finish_reason is None:
                continue
            delta = replace(
                delta, text="", logprobs=[], finish_reason="length", completion_tokens=0
            )
        yield delta


def _top(token: TokenLogprob) -> dict[str, float] | None:
    """The most likely tokens and the chosen one, as OpenAI gives them (so up to
    logprobs + 1); None for the first prompt token."""
    if token.logprob is None:
        return None
    top = {a.token: a.logprob for a in token.top}
    top.setdefault(token.token, token.logprob)
    return top


class _Tally:
    """Turns deltas into pieces of choices, keeping what spans them: each choice's length
    so far (its tokens' text_offset count from its start) and the token counts."""

    def __init__(self, req: CompletionRequest):
        self._req = req
        self._chars: dict[int, int] = {}
        self._prompt_tokens: dict[int, int] = {}
        self._completion_tokens = 0

    def piece(self, delta: Delta) -> CompletionChoice:
        offset = self._chars.get(delta.index, 0)
        self._chars[delta.index] = offset + len(delta.text)
        if delta.finish_reason is not None:
            self._prompt_tokens[delta.index // self._req.n] = delta.prompt_tokens
            self._completion_tokens += delta.completion_tokens
        tokens = delta.logprobs
        logprobs = None
        if self._req.logprobs is not None:
            logprobs = CompletionLogprobs(
                tokens=[t.token for t in tokens],
                token_logprobs=[t.logprob for t in tokens],
                top_logprobs=[_top(t) for t in tokens],
                text_offset=char_offsets(tokens, offset),
            )
        return CompletionChoice(
            index=delta.index, text=delta.text, finish_reason=delta.finish_reason, logprobs=logprobs
        )

    def usage(self) -> Usage:
        prompt_tokens = sum(self._prompt_tokens.values())
        return Usage(
            prompt_tokens=prompt_tokens,
            completion_tokens=self._completion_tokens,
            total_tokens=prompt_tokens + self._completion_tokens,
        )


async def complete(clients: ServiceClients, req: CompletionRequest, tenant_id: str) -> Completion:
    tally = _Tally(req)
    choices = [
        CompletionChoice(
            index=i,
            text="",
            finish_reason=None,
            logprobs=None if req.logprobs is None else CompletionLogprobs(),
        )
        for i in range(len(req.prompts()) * req.n)
    ]
    async for delta in _deltas(clients, req, tenant_id):
        piece = tally.piece(delta)
        choice = choices[piece.index]
        choice.text += piece.text
        choice.finish_reason = piece.finish_reason or choice.finish_reason
        if choice.logprobs is not None and piece.logprobs is not None:
            choice.logprobs.extend(piece.logprobs)
    return Completion(
        id=new_request_id("cmpl"),
        created=int(time.time()),
        model=req.model,
        choices=choices,
        usage=tally.usage(),
    )


async def open_stream(
    clients: ServiceClients, req: CompletionRequest, tenant_id: str
) -> AsyncIterator[Completion]:
    """Wait for the first delta (errors become HTTP errors), then stream."""
    deltas = _deltas(clients, req, tenant_id)
    first = await anext(deltas)
    return _chunks(req, first, deltas)


async def _chunks(
    req: CompletionRequest, first: Delta, deltas: AsyncIterator[Delta]
) -> AsyncIterator[Completion]:
    chunk_id = new_request_id("cmpl")
    created = int(time.time())
    tally = _Tally(req)
    delta: Delta | None = first
    while delta is not None:
        yield Completion(
            id=chunk_id, created=created, model=req.model, choices=[tally.piece(delta)]
        )
        delta = await anext(deltas, None)
    if req.include_usage:
        yield Completion(
            id=chunk_id, created=created, model=req.model, choices=[], usage=tally.usage()
        )
