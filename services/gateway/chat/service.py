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
    ChatMessageIn,
    ChatMessageOut,
    ChatTokenLogprob,
    ChatTopLogprob,
    ChoiceLogprobs,
    FunctionCallDelta,
    FunctionCallOut,
    ToolCallDelta,
    ToolCallOut,
    Usage,
)
from services.gateway.clients import ServiceClients
from services.gateway.generation import Delta, Sampling, generate_choices, new_request_id
from services.gateway.logprobs import TokenLogprob
from services.gateway.structured.response_format import output_constraint
from services.gateway.structured.tools import (
    ParsedCall,
    ToolCallStream,
    check_tool_turns,
    split_tool_calls,
    tool_constraint,
    tool_definitions,
)
from tuneloop.inference.v1 import inference_pb2
from tuneloop_core.errors import InvalidRequestError


def _message(index: int, message: ChatMessageIn) -> inference_pb2.ChatMessage:
    calls = message.tool_calls or []
    if message.content is None and not calls:
        raise InvalidRequestError(
            f"messages[{index}].content must be a string", param=f"messages[{index}].content"
        )
    role = "system" if message.role == "developer" else message.role
    return inference_pb2.ChatMessage(
        role=role,
        content=message.text(),
        tool_calls=[
            inference_pb2.ToolCall(
                id=c.id, name=c.function.name, arguments_json=c.function.arguments or "{}"
            )
            for c in calls
        ],
        tool_call_id=message.tool_call_id or "",
        name=(message.name or "") if message.role == "tool" else "",
    )


def _constraint(
    req: ChatCompletionRequest, tools: list[inference_pb2.ToolDefinition]
) -> inference_pb2.OutputConstraint | None:
    answer_format = output_constraint(req.response_format, req.structured_outputs)
    tool_calls = tool_constraint(tools, req.tool_choice, req.parallel_tool_calls)
    if tool_calls is None:
        return answer_format
    if (
        answer_format is not None
        and tool_calls.tool_calls.mode != inference_pb2.TOOL_CHOICE_MODE_REQUIRED
    ):
        # tool_choice auto: the answer is a call, or text in the asked format (with
        # required or a named function there is no text for the format to apply to)
        tool_calls.tool_calls.answer.CopyFrom(answer_format)
    return tool_calls


def to_generate_request(
    req: ChatCompletionRequest, tenant_id: str
) -> inference_pb2.GenerateRequest:
    check_tool_turns(req.messages)
    messages = [_message(i, m) for i, m in enumerate(req.messages)]
    tools = tool_definitions(req.tools)
    request = inference_pb2.GenerateRequest(
        model=req.model,
        messages=inference_pb2.ChatMessages(messages=messages),
        request_id=new_request_id("chatcmpl"),
        tenant_id=tenant_id,
        tools=tools,
    )
    constraint = _constraint(req, tools)
    if constraint is not None:
        request.constraint.CopyFrom(constraint)
    return request


def _calls_tools(request: inference_pb2.GenerateRequest) -> bool:
    return request.constraint.WhichOneof("kind") == "tool_calls"


def _sampling(req: ChatCompletionRequest) -> Sampling:
    if req.top_logprobs is not None and not req.logprobs:
        raise InvalidRequestError("top_logprobs needs logprobs set to true", param="top_logprobs")
    logprobs = (req.top_logprobs or 0) if req.logprobs else None
    return req.sampling(req.max_completion_tokens or req.max_tokens, logprobs=logprobs)


def _deltas(
    clients: ServiceClients, req: ChatCompletionRequest, tenant_id: str
) -> tuple[AsyncIterator[Delta], bool]:
    """The choices' deltas, and whether their text may hold tool calls."""
    sampling = _sampling(req)
    request = to_generate_request(req, tenant_id)
    return generate_choices(clients, [request], sampling, req.n), _calls_tools(request)


def _logprobs(req: ChatCompletionRequest, tokens: list[TokenLogprob]) -> ChoiceLogprobs | None:
    """OpenAI's `logprobs` of a choice or a streamed piece of it. They cover the text as
    generated: where tool calls are split out of it, they still cover the calls' markup."""
    if not req.logprobs:
        return None
    return ChoiceLogprobs(
        content=[
            ChatTokenLogprob(
                token=t.token,
                logprob=t.logprob or 0.0,  # generated tokens always have one
                bytes=list(t.token_bytes),
                top_logprobs=[
                    ChatTopLogprob(token=a.token, logprob=a.logprob, bytes=list(a.token_bytes))
                    for a in t.top
                ],
            )
            for t in tokens
        ]
    )


def _choice(
    index: int, text: str, finish: str | None, tools: bool, logprobs: ChoiceLogprobs | None
) -> ChatChoice:
    plain, calls = split_tool_calls(text) if tools else (text, [])
    if not calls:
        return ChatChoice(
            index=index,
            message=ChatMessageOut(content=text),
            finish_reason=finish,
            logprobs=logprobs,
        )
    return ChatChoice(
        index=index,
        message=ChatMessageOut(
            content=plain or None,
            tool_calls=[
                ToolCallOut(id=c.id, function=FunctionCallOut(name=c.name, arguments=c.arguments))
                for c in calls
            ],
        ),
        finish_reason="tool_calls" if finish == "stop" else finish,
        logprobs=logprobs,
    )


async def complete(
    clients: ServiceClients, req: ChatCompletionRequest, tenant_id: str
) -> ChatCompletion:
    texts = [""] * req.n
    tokens: list[list[TokenLogprob]] = [[] for _ in range(req.n)]
    finish: list[str | None] = [None] * req.n
    prompt_tokens = completion_tokens = 0
    deltas, tools = _deltas(clients, req, tenant_id)
    async for delta in deltas:
        texts[delta.index] += delta.text
        tokens[delta.index] += delta.logprobs
        if delta.finish_reason is not None:
            finish[delta.index] = delta.finish_reason
            prompt_tokens = delta.prompt_tokens
            completion_tokens += delta.completion_tokens
    return ChatCompletion(
        id=new_request_id("chatcmpl"),
        created=int(time.time()),
        model=req.model,
        choices=[
            _choice(i, texts[i], finish[i], tools, _logprobs(req, tokens[i])) for i in range(req.n)
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
    deltas, tools = _deltas(clients, req, tenant_id)
    first = await anext(deltas)
    return _chunks(req, first, deltas, tools)


def _tool_call_deltas(stream: ToolCallStream, calls: list[ParsedCall]) -> list[ToolCallDelta]:
    first = stream.calls - len(calls)
    return [
        ToolCallDelta(
            index=first + k,
            id=c.id,
            type="function",
            function=FunctionCallDelta(name=c.name, arguments=c.arguments),
        )
        for k, c in enumerate(calls)
    ]


async def _chunks(
    req: ChatCompletionRequest, first: Delta, deltas: AsyncIterator[Delta], tools: bool
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

    streams = [ToolCallStream() for _ in range(req.n)] if tools else []
    async for delta in all_deltas():
        text, calls = delta.text, list[ParsedCall]()
        finish = delta.finish_reason
        if streams:
            stream = streams[delta.index]
            text, calls = stream.feed(delta.text)
            if finish is not None:
                text += stream.flush()
                finish = "tool_calls" if stream.calls and finish == "stop" else finish
        if text or calls or finish is not None or delta.logprobs:
            tool_deltas = _tool_call_deltas(streams[delta.index], calls) if calls else None
            yield chunk(
                [
                    ChatChunkChoice(
                        index=delta.index,
                        delta=ChatDelta(content=text or None, tool_calls=tool_deltas),
                        finish_reason=finish,
                        logprobs=_logprobs(req, delta.logprobs) if delta.logprobs else None,
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
