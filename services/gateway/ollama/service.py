"""Ollama's /api/chat, /api/generate and /api/embed, translated into the OpenAI-shaped
requests the gateway already serves (`translate.py`) and run through their services (chat,
completions, embeddings): the same generation path, structured outputs and tools; their
answers come back here as Ollama's chunks. No FastAPI here."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from services.gateway.chat import service as chat_service
from services.gateway.chat.protocol import (
    ChatCompletionChunk,
    ChoiceLogprobs,
    ToolCallDelta,
)
from services.gateway.completions import service as completions_service
from services.gateway.completions.protocol import Completion
from services.gateway.embeddings import service as embeddings_service
from services.gateway.embeddings.protocol import EmbeddingRequest
from services.gateway.ollama import catalog, translate
from services.gateway.ollama.protocol import (
    ChatChunk,
    EmbeddingsResponse,
    EmbedResponse,
    FunctionCallOut,
    GenerateChunk,
    Logprob,
    MessageOut,
    OllamaChatRequest,
    OllamaEmbeddingsRequest,
    OllamaEmbedRequest,
    OllamaGenerateRequest,
    TokenLogprob,
    ToolCallOut,
)
from services.gateway.registry.models import Tenant
from services.gateway.state import GatewayState


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


@dataclass
class Piece:
    """A piece of the answer, whichever service produced it."""

    text: str = ""
    calls: list[ToolCallOut] = field(default_factory=list)
    logprobs: list[Logprob] = field(default_factory=list)
    finish: str | None = None
    usage: tuple[int, int] | None = None  # prompt, completion tokens (the last piece)


class Clock:
    """Ollama's durations, in nanoseconds: the prompt's is the wait for the first piece."""

    def __init__(self) -> None:
        self.start = time.perf_counter_ns()
        self.first: int | None = None

    def tick(self) -> None:
        if self.first is None:
            self.first = time.perf_counter_ns()

    def counts(self, finish: str | None, usage: tuple[int, int] | None) -> dict[str, Any]:
        end = time.perf_counter_ns()
        first = self.first or end
        prompt_tokens, completion_tokens = usage or (0, 0)
        return {
            # Tool calls end a turn as "stop" in Ollama.
            "done_reason": "length" if finish == "length" else "stop",
            "total_duration": end - self.start,
            "load_duration": 0,
            "prompt_eval_count": prompt_tokens,
            "prompt_eval_duration": first - self.start,
            "eval_count": completion_tokens,
            "eval_duration": end - first,
        }


def _arguments(text: str) -> dict[str, Any]:
    """A call's arguments as the object Ollama sends (the grammar makes them one)."""
    try:
        value = json.loads(text or "{}")
    except ValueError:
        value = None
    return value if isinstance(value, dict) else {"arguments": text}


def _logprobs(content: ChoiceLogprobs | None) -> list[Logprob]:
    return [
        Logprob(
            token=t.token,
            logprob=t.logprob,
            top_logprobs=[TokenLogprob(token=a.token, logprob=a.logprob) for a in t.top_logprobs],
        )
        for t in (content.content or [] if content else [])
    ]


def _call_out(delta: ToolCallDelta) -> ToolCallOut:
    name, arguments = delta.function.name or "", delta.function.arguments or "{}"
    return ToolCallOut(function=FunctionCallOut(name=name, arguments=_arguments(arguments)))


async def _chat_pieces(chunks: AsyncIterator[ChatCompletionChunk]) -> AsyncIterator[Piece]:
    async for chunk in chunks:
        for choice in chunk.choices:
            yield Piece(
                text=choice.delta.content or "",
                calls=[_call_out(c) for c in choice.delta.tool_calls or []],
                logprobs=_logprobs(choice.logprobs),
                finish=choice.finish_reason,
            )
        if chunk.usage is not None:
            yield Piece(usage=(chunk.usage.prompt_tokens, chunk.usage.completion_tokens))


async def _completion_pieces(chunks: AsyncIterator[Completion]) -> AsyncIterator[Piece]:
    async for chunk in chunks:
        for choice in chunk.choices:
            logprobs = choice.logprobs
            yield Piece(
                text=choice.text,
                logprobs=[
                    Logprob(
                        token=token,
                        logprob=logprob or 0.0,
                        top_logprobs=[
                            TokenLogprob(token=t, logprob=v) for t, v in (top or {}).items()
                        ],
                    )
                    for token, logprob, top in zip(
                        logprobs.tokens,
                        logprobs.token_logprobs,
                        logprobs.top_logprobs,
                        strict=True,
                    )
                ]
                if logprobs
                else [],
                finish=choice.finish_reason,
            )
        if chunk.usage is not None:
            yield Piece(usage=(chunk.usage.prompt_tokens, chunk.usage.completion_tokens))


async def _pieces(
    state: GatewayState, req: OllamaChatRequest | OllamaGenerateRequest, tenant: Tenant
) -> AsyncIterator[Piece] | None:
    """The answer's pieces, once the first has come (errors such as an unknown model are
    raised here, before anything is sent); None when there is nothing to generate (Ollama
    loads the model and answers done_reason "load")."""
    translate.refuse_thinking(req)
    model = await catalog.resolve(state, tenant, req.model, "generate")
    if isinstance(req, OllamaChatRequest):
        if not req.messages:
            return None
        chat = translate.chat_request(req, model, translate.messages(req.messages), req.tools)
        return _chat_pieces(await chat_service.open_stream(state.clients, chat, tenant.id))
    translate.check_generate(req)
    if not req.prompt and not req.system:
        return None
    if req.raw:
        completion = translate.completion_request(req, model)
        chunks = await completions_service.open_stream(state.clients, completion, tenant.id)
        return _completion_pieces(chunks)
    chat = translate.chat_request(req, model, translate.generate_turns(req))
    return _chat_pieces(await chat_service.open_stream(state.clients, chat, tenant.id))


def _merge(pieces: list[Piece]) -> Piece:
    whole = Piece()
    for piece in pieces:
        whole.text += piece.text
        whole.calls += piece.calls
        whole.logprobs += piece.logprobs
        whole.finish = piece.finish or whole.finish
        whole.usage = piece.usage or whole.usage
    return whole


async def _frames(
    req: OllamaChatRequest | OllamaGenerateRequest,
    pieces: AsyncIterator[Piece] | None,
    clock: Clock,
) -> AsyncIterator[ChatChunk | GenerateChunk]:
    """Ollama's chunks: one per piece of text or tool call, then `done` with the counts
    (a single chunk when not streaming)."""
    if pieces is None:
        yield _frame(req, Piece(), done=True, counts={"done_reason": "load"})
        return
    collected: list[Piece] = []
    async for piece in pieces:
        clock.tick()
        collected.append(piece)
        if req.streaming and (piece.text or piece.calls):
            yield _frame(req, piece, done=False)
    whole = _merge(collected)
    final = Piece() if req.streaming else whole
    yield _frame(req, final, done=True, counts=clock.counts(whole.finish, whole.usage))


def _frame(
    req: OllamaChatRequest | OllamaGenerateRequest,
    piece: Piece,
    *,
    done: bool,
    counts: dict[str, Any] | None = None,
) -> ChatChunk | GenerateChunk:
    logprobs = piece.logprobs if req.logprobs else None
    if isinstance(req, OllamaChatRequest):
        message = MessageOut(content=piece.text, tool_calls=piece.calls or None)
        return ChatChunk(
            model=req.model,
            created_at=_now(),
            message=message,
            done=done,
            logprobs=logprobs,
            **(counts or {}),
        )
    return GenerateChunk(
        model=req.model,
        created_at=_now(),
        response=piece.text,
        done=done,
        logprobs=logprobs,
        **(counts or {}),
    )


async def generate(
    state: GatewayState, req: OllamaChatRequest | OllamaGenerateRequest, tenant: Tenant
) -> AsyncIterator[ChatChunk | GenerateChunk]:
    """/api/chat or /api/generate: the chunks to send, once generation has started."""
    clock = Clock()  # from the request, as Ollama's total_duration counts
    return _frames(req, await _pieces(state, req, tenant), clock)


async def embed(state: GatewayState, req: OllamaEmbedRequest, tenant: Tenant) -> EmbedResponse:
    clock = Clock()
    model = await catalog.resolve(state, tenant, req.model, "embed")
    reply = await embeddings_service.embed(
        state.clients,
        EmbeddingRequest(
            model=model,
            input=req.input,
            dimensions=req.dimensions,
        ),
        state.settings.rpc_timeout_s,
    )
    counts = clock.counts(None, (reply.usage.prompt_tokens, 0))
    return EmbedResponse(
        model=req.model,
        embeddings=[item.embedding for item in reply.data if isinstance(item.embedding, list)],
        total_duration=counts["total_duration"],
        prompt_eval_count=reply.usage.prompt_tokens,
    )


async def embeddings(
    state: GatewayState, req: OllamaEmbeddingsRequest, tenant: Tenant
) -> EmbeddingsResponse:
    """The legacy /api/embeddings."""
    reply = await embed(state, OllamaEmbedRequest(model=req.model, input=req.prompt), tenant)
    return EmbeddingsResponse(embedding=reply.embeddings[0])
