"""Text completions through the inference service (no FastAPI here)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

from services.gateway.chat.protocol import Usage
from services.gateway.clients import ServiceClients
from services.gateway.completions.protocol import (
    MAX_PROMPTS,
    Completion,
    CompletionChoice,
    CompletionRequest,
)
from services.gateway.generation import Delta, generate_choices, new_request_id
from services.gateway.structured.response_format import output_constraint
from tuneloop.inference.v1 import inference_pb2
from tuneloop_core.errors import InvalidRequestError


def _check(req: CompletionRequest) -> list[str]:
    for param, given in (("echo", req.echo), ("suffix", req.suffix), ("logprobs", req.logprobs)):
        if given:
            raise InvalidRequestError(
                f"{param} is not supported", param=param, code="unsupported_parameter"
            )
    if req.best_of not in (None, 1, req.n):
        raise InvalidRequestError("best_of is not supported", param="best_of")
    prompts = req.prompts()
    if len(prompts) > MAX_PROMPTS:
        raise InvalidRequestError(f"at most {MAX_PROMPTS} prompts per request", param="prompt")
    return prompts


def _deltas(
    clients: ServiceClients, req: CompletionRequest, tenant_id: str
) -> AsyncIterator[Delta]:
    request_id = new_request_id("cmpl")
    constraint = output_constraint(req.response_format, req.structured_outputs)
    prompts = [
        inference_pb2.GenerateRequest(
            model=req.model,
            prompt=p,
            request_id=request_id,
            tenant_id=tenant_id,
            constraint=constraint,
        )
        for p in _check(req)
    ]
    return generate_choices(clients, prompts, req.sampling(req.max_tokens), req.n)


def _usage(prompt_tokens: int, completion_tokens: int) -> Usage:
    return Usage(
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        total_tokens=prompt_tokens + completion_tokens,
    )


async def complete(clients: ServiceClients, req: CompletionRequest, tenant_id: str) -> Completion:
    total = len(req.prompts()) * req.n
    texts = [""] * total
    finish: list[str | None] = [None] * total
    prompt_tokens: dict[int, int] = {}
    completion_tokens = 0
    async for delta in _deltas(clients, req, tenant_id):
        texts[delta.index] += delta.text
        if delta.finish_reason is not None:
            finish[delta.index] = delta.finish_reason
            prompt_tokens[delta.index // req.n] = delta.prompt_tokens
            completion_tokens += delta.completion_tokens
    return Completion(
        id=new_request_id("cmpl"),
        created=int(time.time()),
        model=req.model,
        choices=[
            CompletionChoice(index=i, text=texts[i], finish_reason=finish[i]) for i in range(total)
        ],
        usage=_usage(sum(prompt_tokens.values()), completion_tokens),
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
    prompt_tokens: dict[int, int] = {}
    completion_tokens = 0
    delta: Delta | None = first
    while delta is not None:
        yield Completion(
            id=chunk_id,
            created=created,
            model=req.model,
            choices=[
                CompletionChoice(
                    index=delta.index, text=delta.text, finish_reason=delta.finish_reason
                )
            ],
        )
        if delta.finish_reason is not None:
            prompt_tokens[delta.index // req.n] = delta.prompt_tokens
            completion_tokens += delta.completion_tokens
        delta = await anext(deltas, None)
    if req.include_usage:
        yield Completion(
            id=chunk_id,
            created=created,
            model=req.model,
            choices=[],
            usage=_usage(sum(prompt_tokens.values()), completion_tokens),
        )
