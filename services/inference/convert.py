"""Protobuf ↔ engine types, at the edge of the service only."""

from __future__ import annotations

from typing import Any

from services.inference.constraints import grammar_for
from services.inference.engines.base import (
    ChatTurn,
    GenerationChunk,
    GenerationRequest,
    SamplingSettings,
    TokenLogprob,
    ToolCallTurn,
    ToolSpec,
)
from tuneloop.common.v1 import common_pb2
from tuneloop.inference.v1 import inference_pb2
from tuneloop_core.errors import InvalidRequestError

ROLES = frozenset({"system", "user", "assistant", "tool"})
MAX_TOP_LOGPROBS = 20  # alternatives per position, as OpenAI and vLLM allow
FINISH_TO_PB = {
    "stop": inference_pb2.FINISH_REASON_STOP,
    "length": inference_pb2.FINISH_REASON_LENGTH,
    "abort": inference_pb2.FINISH_REASON_ABORT,
}


def sampling_from_pb(params: inference_pb2.SamplingParams, max_tokens: int) -> SamplingSettings:
    temperature = params.temperature if params.HasField("temperature") else 1.0
    top_p = params.top_p if params.HasField("top_p") else 1.0
    if temperature < 0:
        raise InvalidRequestError("temperature must be >= 0", param="temperature")
    if not 0 < top_p <= 1:
        raise InvalidRequestError("top_p must be in (0, 1]", param="top_p")
    if params.top_k < 0:
        raise InvalidRequestError("top_k must be >= 0", param="top_k")
    for name in ("presence_penalty", "frequency_penalty"):
        if not -2 <= getattr(params, name) <= 2:
            raise InvalidRequestError(f"{name} must be in [-2, 2]", param=name)
    logprobs = {
        name: getattr(params, name) if params.HasField(name) else None
        for name in ("logprobs", "prompt_logprobs")
    }
    for name, top in logprobs.items():
        if top is not None and not 0 <= top <= MAX_TOP_LOGPROBS:
            raise InvalidRequestError(f"{name} must be in [0, {MAX_TOP_LOGPROBS}]", param=name)
    return SamplingSettings(
        max_tokens=max_tokens,
        temperature=temperature,
        top_p=top_p,
        top_k=params.top_k,
        stop=tuple(params.stop),
        seed=params.seed or None,
        repetition_penalty=params.repetition_penalty or 1.0,
        presence_penalty=params.presence_penalty,
        frequency_penalty=params.frequency_penalty,
        **logprobs,
    )


def _turn(message: inference_pb2.ChatMessage) -> ChatTurn:
    calls = tuple(ToolCallTurn(c.id, c.name, c.arguments_json) for c in message.tool_calls)
    return ChatTurn(message.role, message.content, calls, message.tool_call_id, message.name)


def request_from_pb(
    request: inference_pb2.GenerateRequest, adapter: str | None
) -> GenerationRequest:
    """The request with max_tokens left as given (0 = default, filled in by the caller).
    The constraint is compiled here, so a bad one never reaches an engine."""
    which = request.WhichOneof("input")
    tools = tuple(ToolSpec(t.name, t.description, t.parameters_json) for t in request.tools)
    common: dict[str, Any] = {
        "request_id": request.request_id,
        "adapter": adapter,
        "sampling": sampling_from_pb(request.sampling, request.sampling.max_tokens),
        "tools": tools,
    }
    if which == "messages":
        turns = tuple(_turn(m) for m in request.messages.messages)
        if not turns:
            raise InvalidRequestError("messages must not be empty", param="messages")
        for index, turn in enumerate(turns):
            if turn.role not in ROLES:
                raise InvalidRequestError(
                    f"messages[{index}].role must be one of {sorted(ROLES)}, not {turn.role!r}",
                    param=f"messages[{index}].role",
                )
        common["messages"] = turns
    elif which == "prompt":
        common["prompt"] = request.prompt
    else:
        raise InvalidRequestError("a prompt or messages are required", param="prompt")
    grammar = grammar_for(request.constraint, tools) if request.HasField("constraint") else None
    return GenerationRequest(grammar=grammar, **common)


def _logprob_to_pb(token: TokenLogprob) -> inference_pb2.TokenLogprob:
    reply = inference_pb2.TokenLogprob(
        token_id=token.token_id,
        token_bytes=token.token_bytes,
        top=[
            inference_pb2.TopLogprob(
                token_id=t.token_id, token_bytes=t.token_bytes, logprob=t.logprob
            )
            for t in token.top
        ],
    )
    if token.logprob is not None:
        reply.logprob = token.logprob
    return reply


def chunk_to_pb(chunk: GenerationChunk) -> inference_pb2.GenerateResponse:
    reply = inference_pb2.GenerateResponse(
        text_delta=chunk.text,
        token_ids=chunk.token_ids,
        logprobs=[_logprob_to_pb(t) for t in chunk.logprobs],
        prompt_logprobs=[_logprob_to_pb(t) for t in chunk.prompt_logprobs],
    )
    if chunk.finish_reason is not None:
        reply.finish_reason = FINISH_TO_PB[chunk.finish_reason]
        reply.usage.CopyFrom(
            common_pb2.Usage(
                prompt_tokens=chunk.prompt_tokens, completion_tokens=chunk.completion_tokens
            )
        )
    return reply
