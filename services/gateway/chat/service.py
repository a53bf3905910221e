"""Chat completions through the inference service (no FastAPI here)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

from services.gateway.chat.protocol import (
    ChatChoice,
    ChatChunkChoice,
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChatDelta,
    ChatMessageOut,
    Usage,
)
from services.gateway.clients import ServiceClients
from services.gateway.generation import Delta, generate_choices, new_request_id
from tuneloop.inference.v1 import inference_pb2
from tuneloop_core.errors import InvalidRequestError


def _unsupported(param: str, what: str) -> InvalidRequestError:
    return InvalidRequestError(
        f"{what} is not supported", param=param, code="unsupported_parameter"
    )


def to_generate_request(
    req: ChatCompletionRequest, tenant_id: str
) -> inference_pb2.GenerateRequest:
    if req.tools:
        raise _unsupported("tools", "tool calling")
    if req.response_format and req.response_format.get("type") not in (None, "text"):
        raise _unsupported("response_format", "a response_format other than text")
    if req.logprobs:
        raise _unsupported("logprobs", "logprobs")
    messages = []
    for index, message in enumerate(req.messages):
        if message.content is None:
            raise InvalidRequestError(
                f"messages[{index}].content must be a string", param=f"messages[{index}].content"
            )
        role = "system" if message.role == "developer" else message.role
        messages.append(inference_pb2.ChatMessage(role=role, content=message.text()))
    return inference_pb2.GenerateRequest(
        model=req.model,
        messages=inference_pb2.ChatMessages(messages=messages),
        request_id=new_request_id("chatcmpl"),
        tenant_id=tenant_id,
    )


def _deltas(
    clients: ServiceClients, req: ChatCompletionRequest, tenant_id: str
) -> AsyncIterator[Delta]:
    request = to_generate_request(req, tenant_id)
    sampling = req.sampling(req.max_completion_tokens or req.max_tokens)
    return generate_choices(clients, [request], sampling, req.n)


async def complete(
    clients: ServiceClients, req: ChatCompletionRequest, tenant_id: str
) -> ChatCompletion:
    texts = [""] * req.n
    finish: list[str | None] = [None] * req.n
    prompt_tokens = completion_tokens = 0
    async for delta in _deltas(clients, req, tenant_id):
        texts[delta.index] += delta.text
        if delta.finish_reason is not None:
            finish[delta.index] = delta.finish_reason
            prompt_tokens = delta.prompt_tokens
            completion_tokens += delta.completion_tokens
    return ChatCompletion(
        id=new_request_id("chatcmpl"),
        created=int(time.time()),
        model=req.model,
        choices=[
            ChatChoice(index=i, message=ChatMessageOut(content=texts[i]), finish_reason=finish[i])
            for i in range(req.n)
        ],
        usage=Usage(
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            total_tokens=prompt_tokens + completion_tokens,
        ),
    )


async def open_stream(
    clients: ServiceClients, req: ChatCompletionRequest, tenant_id: str
) -> AsyncIterator[ChatCompletionChunk]:
    """Start generating and wait for the first delta, so that errors such as an unknown model
    surface as HTTP errors; then stream the chunks."""
    deltas = _deltas(clients, req, tenant_id)
    first = await anext(deltas)
    return _chunks(req, first, deltas)


async def _chunks(
    req: ChatCompletionRequest, first: Delta, deltas: AsyncIterator[Delta]
) -> AsyncIterator[ChatCompletionChunk]:
    chunk_id = new_request_id("chatcmpl")
    created = int(time.time())

    def chunk(choices: list[ChatChunkChoice], usage: Usage | None = None) -> ChatCompletionChunk:
        return ChatCompletionChunk(
            id=chunk_id, created=created, model=req.model, choices=choices, usage=usage
        )

    for index in range(req.n):
        yield chunk([ChatChunkChoice(index=index, delta=ChatDelta(role="assistant", content=""))])
    prompt_tokens = completion_tokens = 0

    async def all_deltas() -> AsyncIterator[Delta]:
        yield first
        async for delta in deltas:
            yield delta

    async for delta in all_deltas():
        content = delta.text if delta.text else None
        if content is not None or delta.finish_reason is not None:
            yield chunk(
                [
                    ChatChunkChoice(
                        index=delta.index,
                        delta=ChatDelta(content=content),
                        finish_reason=delta.finish_reason,
                    )
                ]
            )
        if delta.finish_reason is not None:
            prompt_tokens = delta.prompt_tokens
            completion_tokens += delta.completion_tokens
    if req.include_usage:
        total = prompt_tokens + completion_tokens
        yield chunk(
            [],
            Usage(
                prompt_tokens=prompt_tokens, completion_tokens=completion_tokens, total_tokens=total
            ),
        )
