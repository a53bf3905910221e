"""Ollama's requests as the OpenAI-shaped requests the gateway serves: options and format
as sampling fields and response_format, tool turns matched to their calls, and the fields
Tuneloop refuses named in a 400. The answers go the other way in `service.py`."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from services.gateway.chat.protocol import ChatCompletionRequest, ChatMessageIn
from services.gateway.completions.protocol import CompletionRequest
from services.gateway.ollama.protocol import (
    GenerationFields,
    OllamaGenerateRequest,
    OllamaMessage,
)
from services.gateway.sampling import StreamOptions
from services.gateway.structured.response_format import (
    JsonObjectFormat,
    JsonSchemaFormat,
    JsonSchemaSpec,
)
from services.gateway.structured.tools import FunctionCall, ToolCallIn
from tuneloop_core.errors import InvalidRequestError

MAX_STOPS = 4  # as many as the inference service takes
USAGE = StreamOptions(include_usage=True)  # the last chunk carries the token counts
Request = TypeVar("Request", bound=BaseModel)


def refuse_thinking(req: GenerationFields) -> None:
    if req.think not in (None, False):
        raise InvalidRequestError(
            f'"{req.model}" does not support thinking', param="think", code="unsupported_parameter"
        )


def sampling(req: GenerationFields) -> dict[str, Any]:
    """Ollama's options and format as the OpenAI request fields SamplingFields reads."""
    options = req.options
    fields: dict[str, Any] = {}
    if options is not None:
        stops = [options.stop] if isinstance(options.stop, str) else list(options.stop or [])
        if len(stops) > MAX_STOPS:
            raise InvalidRequestError(
                f"at most {MAX_STOPS} stop sequences are allowed", param="options.stop"
            )
        if options.num_predict == 0:
            raise InvalidRequestError(
                "num_predict must be at least 1, or -1 for no limit", param="options.num_predict"
            )
        fields = {
            "max_tokens": options.num_predict if (options.num_predict or 0) > 0 else None,
            "temperature": options.temperature,
            "top_p": options.top_p or None,  # Ollama's 0 means off, OpenAI's range is (0, 1]
            "top_k": options.top_k,
            "seed": options.seed,
            "stop": stops or None,
            "presence_penalty": options.presence_penalty or 0.0,
            "frequency_penalty": options.frequency_penalty or 0.0,
        }
    if req.format == "json":
        fields["response_format"] = JsonObjectFormat(type="json_object")
    elif isinstance(req.format, dict):
        spec = JsonSchemaSpec(name="response", schema=req.format)
        fields["response_format"] = JsonSchemaFormat(type="json_schema", json_schema=spec)
    return fields


class _Tool:
    """Ollama's tool turns carry no call ids: each answers the earliest open call of its
    `tool_name` (or the earliest open call when it names none)."""

    def __init__(self) -> None:
        self.open: list[tuple[str, str]] = []  # (id, function name)

    def calls(self, index: int, message: OllamaMessage) -> list[ToolCallIn]:
        out = []
        for k, call in enumerate(message.tool_calls or []):
            call_id = call.id or f"call_{index}_{k}"
            arguments = call.function.arguments
            text = arguments if isinstance(arguments, str) else json.dumps(arguments)
            out.append(
                ToolCallIn(
                    id=call_id, function=FunctionCall(name=call.function.name, arguments=text)
                )
            )
            self.open.append((call_id, call.function.name))
        return out

    def answered(self, index: int, message: OllamaMessage) -> str:
        for position, (call_id, name) in enumerate(self.open):
            if message.tool_name in (None, "", name):
                del self.open[position]
                return call_id
        raise InvalidRequestError(
            f"messages[{index}] is a tool result ({message.tool_name or 'unnamed'}) that "
            "answers no earlier assistant tool call",
            param=f"messages[{index}].tool_name",
        )


def messages(messages: list[OllamaMessage]) -> list[ChatMessageIn]:
    tools = _Tool()
    out = []
    for index, message in enumerate(messages):
        if message.images:
            raise InvalidRequestError(
                "images are not supported: no vision model is served",
                param=f"messages[{index}].images",
                code="unsupported_parameter",
            )
        content = message.content or ""
        if message.role == "assistant" and message.tool_calls:
            calls = tools.calls(index, message)
            out.append(ChatMessageIn(role="assistant", content=content or None, tool_calls=calls))
        elif message.role == "tool":
            call_id = tools.answered(index, message)
            out.append(
                ChatMessageIn(
                    role="tool", content=content, tool_call_id=call_id, name=message.tool_name
                )
            )
        else:
            out.append(ChatMessageIn(role=message.role, content=content))
    return out


def build(cls: type[Request], **fields: Any) -> Request:
    """The OpenAI-shaped request; a value its bounds refuse is a 400 naming the field."""
    try:
        return cls(**fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        param = ".".join(str(p) for p in first["loc"])
        raise InvalidRequestError(f"{param}: {first['msg']}", param=param) from exc


def chat_request(
    req: GenerationFields, model: str, messages: list[ChatMessageIn], tools: Any = None
) -> ChatCompletionRequest:
    return build(
        ChatCompletionRequest,
        model=model,
        messages=messages,
        tools=tools or None,
        stream=True,
        stream_options=USAGE,
        logprobs=req.logprobs,
        top_logprobs=req.top_logprobs if req.logprobs else None,
        **sampling(req),
    )


def completion_request(req: OllamaGenerateRequest, model: str) -> CompletionRequest:
    """/api/generate with raw: the prompt as-is, no chat template."""
    return build(
        CompletionRequest,
        model=model,
        prompt=req.prompt or "",
        stream=True,
        stream_options=USAGE,
        logprobs=(req.top_logprobs or 0) if req.logprobs else None,
        **{"max_tokens": None, **sampling(req)},
    )


def generate_turns(req: OllamaGenerateRequest) -> list[ChatMessageIn]:
    """/api/generate's system and prompt as the turns of a chat."""
    turns = [ChatMessageIn(role="system", content=req.system)] if req.system else []
    turns.append(ChatMessageIn(role="user", content=req.prompt or ""))
    return turns


def check_generate(req: OllamaGenerateRequest) -> None:
    refused = {
        "images": "images are not supported: no vision model is served",
        "suffix": "suffix (fill-in-the-middle) is not supported",
        "template": "template overrides are not supported: the model's own chat template is "
        "used, or none with raw: true",
        "context": "context is not supported: send the conversation to /api/chat",
    }
    for param, message in refused.items():
        if getattr(req, param):
            raise InvalidRequestError(message, param=param, code="unsupported_parameter")
