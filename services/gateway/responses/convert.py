"""A Responses request → the items it gives the model and the chat completion request that
answers it (the one generation path); every refusal is a 400 naming the parameter."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from services.gateway.chat.protocol import ChatCompletionRequest, ChatMessageIn
from services.gateway.responses.protocol import (
    CreateResponseRequest,
    FunctionCallItem,
    FunctionCallOutputItem,
    InputText,
    Item,
    MessageItem,
    OutputText,
)
from services.gateway.sampling import StreamOptions
from services.gateway.structured.response_format import (
    JsonObjectFormat,
    JsonSchemaFormat,
    JsonSchemaSpec,
    ResponseFormat,
)
from services.gateway.structured.tools import (
    FunctionCall,
    FunctionDef,
    NamedFunction,
    NamedToolChoice,
    ToolCallIn,
    ToolChoice,
    ToolDef,
)
from tuneloop_core.errors import InvalidRequestError

_ITEM: TypeAdapter[Item] = TypeAdapter(Item)
# What a text model cannot take, by content part and by item type.
_TEXT_PARTS = {"input_text", "output_text", "text"}
_ITEM_TYPES = {"message", "function_call", "function_call_output"}
_MODES: dict[str, ToolChoice] = {"auto": "auto", "none": "none", "required": "required"}
MAX_METADATA = 16  # keys; each key up to 64 characters and each value up to 512, as OpenAI


def new_id(prefix: str) -> str:
    """An id in OpenAI's Responses style: `resp_…`, `msg_…`, `fc_…`."""
    return f"{prefix}_{uuid.uuid4().hex}"


def check_supported(req: CreateResponseRequest) -> None:
    """Refuse what this server cannot do, naming the parameter."""
    refusals = {
        "background": (req.background, "background responses are not supported"),
        "conversation": (
            req.conversation,
            "conversations are not supported; chain responses with previous_response_id",
        ),
        "prompt": (req.prompt, "saved prompts are not supported; send the input itself"),
        "top_logprobs": (
            req.top_logprobs,
            "log-probabilities are not returned by /v1/responses; "
            "use /v1/chat/completions with logprobs",
        ),
    }
    for param, (value, message) in refusals.items():
        if value:
            raise InvalidRequestError(message, param=param)
    for index, wanted in enumerate(req.include or []):
        if wanted == "message.output_text.logprobs":
            raise InvalidRequestError(refusals["top_logprobs"][1], param=f"include[{index}]")
    metadata = req.metadata or {}
    if len(metadata) > MAX_METADATA or any(
        len(k) > 64 or len(v) > 512 for k, v in metadata.items()
    ):
        raise InvalidRequestError(
            "metadata holds at most 16 keys of up to 64 characters, values up to 512",
            param="metadata",
        )


def _text(content: Any, role: str, param: str) -> list[InputText | OutputText]:
    """A message's content as parts: a string, or input_text/output_text parts."""
    part = OutputText if role == "assistant" else InputText
    if isinstance(content, str):
        return [part(text=content)]
    if not isinstance(content, list):
        raise InvalidRequestError("content must be a string or a list of parts", param=param)
    parts: list[InputText | OutputText] = []
    for index, given in enumerate(content):
        kind = given.get("type") if isinstance(given, dict) else None
        if kind not in _TEXT_PARTS or not isinstance(given.get("text"), str):
            raise InvalidRequestError(
                f"content part type {kind!r} is not supported: the served models read text "
                "(input_text, output_text)",
                param=f"{param}[{index}].type",
            )
        parts.append(part(text=given["text"]))
    return parts


def _item(raw: dict[str, Any], param: str) -> Item:
    kind = raw.get("type", "message")  # an "easy" message has no type
    if kind not in _ITEM_TYPES:
        raise InvalidRequestError(
            f"input item type {kind!r} is not supported; use message, function_call or "
            "function_call_output",
            param=f"{param}.type",
        )
    given = {**raw, "type": kind}
    if kind == "message":
        given["content"] = _text(raw.get("content"), str(raw.get("role")), f"{param}.content")
        given["id"] = raw.get("id") or new_id("msg")
    elif kind == "function_call":
        given["id"] = raw.get("id") or new_id("fc")
    else:
        output = raw.get("output")
        if isinstance(output, list):
            given["output"] = "".join(p.text for p in _text(output, "tool", f"{param}.output"))
        given["id"] = raw.get("id") or new_id("fc")
    given["status"] = "completed"
    try:
        return _ITEM.validate_python(given)
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(p) for p in problem["loc"][1:])  # past the union's tag
        raise InvalidRequestError(
            f"invalid input item: {where}: {problem['msg']}",
            param=f"{param}.{where}" if where else param,
        ) from exc


def input_items(given: str | list[dict[str, Any]]) -> list[Item]:
    if isinstance(given, str):
        return [MessageItem(id=new_id("msg"), role="user", content=[InputText(text=given)])]
    if not given:
        raise InvalidRequestError("input needs at least one item", param="input")
    return [_item(raw, f"input[{index}]") for index, raw in enumerate(given)]


def check_calls(history: list[Item], items: list[Item]) -> None:
    """Every function_call_output answers a call made before it; arguments are objects."""
    calls = {i.call_id for i in history if isinstance(i, FunctionCallItem)}
    for index, item in enumerate(items):
        if isinstance(item, FunctionCallItem):
            try:
                arguments = json.loads(item.arguments or "{}")
            except ValueError:
                arguments = None
            if not isinstance(arguments, dict):
                raise InvalidRequestError(
                    "function_call arguments must be a JSON object text",
                    param=f"input[{index}].arguments",
                )
            calls.add(item.call_id)
        elif isinstance(item, FunctionCallOutputItem) and item.call_id not in calls:
            raise InvalidRequestError(
                f"No tool call found for function call output with call_id {item.call_id}.",
                param=f"input[{index}].call_id",
            )


def messages(instructions: str | None, items: list[Item]) -> list[ChatMessageIn]:
    """Chat messages of `items`: consecutive calls join the assistant turn before them."""
    out = [ChatMessageIn(role="system", content=instructions)] if instructions else []
    names: dict[str, str] = {}
    for item in items:
        if isinstance(item, MessageItem):
            out.append(ChatMessageIn(role=item.role, content=item.text()))
        elif isinstance(item, FunctionCallItem):
            names[item.call_id] = item.name
            call = ToolCallIn(
                id=item.call_id, function=FunctionCall(name=item.name, arguments=item.arguments)
            )
            last = out[-1] if out else None
            if last is not None and last.role == "assistant":
                last.tool_calls = [*(last.tool_calls or []), call]
            else:
                out.append(ChatMessageIn(role="assistant", tool_calls=[call]))
        else:
            out.append(
                ChatMessageIn(
                    role="tool",
                    content=item.output,
                    tool_call_id=item.call_id,
                    name=names.get(item.call_id),
                )
            )
    return out


def tools(given: list[dict[str, Any]] | None) -> list[ToolDef] | None:
    """Responses' flat function tools → chat's; built-in tools are refused."""
    if given is None:
        return None
    out = []
    for index, tool in enumerate(given):
        if tool.get("type") != "function":
            raise InvalidRequestError(
                f"tool type {tool.get('type')!r} is not supported; only function tools are",
                param=f"tools[{index}].type",
            )
        if not isinstance(tool.get("name"), str):
            raise InvalidRequestError("a function tool needs a name", param=f"tools[{index}].name")
        try:
            function = FunctionDef.model_validate(tool)
        except ValidationError as exc:
            where = ".".join(str(p) for p in exc.errors()[0]["loc"])
            raise InvalidRequestError(
                f"invalid tool: {exc.errors()[0]['msg']}", param=f"tools[{index}].{where}"
            ) from exc
        out.append(ToolDef(type="function", function=function))
    return out


def tool_choice(given: str | dict[str, Any] | None) -> ToolChoice | None:
    if given is None:
        return None
    if isinstance(given, str) and given in _MODES:
        return _MODES[given]
    if isinstance(given, dict) and given.get("type") == "function":
        if not isinstance(given.get("name"), str):
            raise InvalidRequestError("tool_choice needs the function's name", param="tool_choice")
        return NamedToolChoice(type="function", function=NamedFunction(name=given["name"]))
    raise InvalidRequestError(
        'tool_choice must be "auto", "none", "required" or {"type": "function", "name": …}',
        param="tool_choice",
    )


def response_format(req: CreateResponseRequest) -> ResponseFormat | None:
    given = req.text.format if req.text else None
    if given is None or given.type == "text":
        return None
    if given.type == "json_object":
        return JsonObjectFormat(type="json_object")
    if given.name is None:
        raise InvalidRequestError("text.format needs a name", param="text.format.name")
    spec = JsonSchemaSpec(name=given.name, description=given.description, strict=given.strict)
    spec.json_schema = given.json_schema
    return JsonSchemaFormat(type="json_schema", json_schema=spec)


def chat_request(
    req: CreateResponseRequest, model: str, items: list[Item]
) -> ChatCompletionRequest:
    return ChatCompletionRequest(
        model=model,
        messages=messages(req.instructions, items),
        max_completion_tokens=req.max_output_tokens,
        temperature=req.temperature,
        top_p=req.top_p,
        tools=tools(req.tools),
        tool_choice=tool_choice(req.tool_choice),
        parallel_tool_calls=req.parallel_tool_calls,
        response_format=response_format(req),
        stream=req.stream,
        stream_options=StreamOptions(include_usage=True),
        user=req.user,
    )


# Chat's parameter names in its errors → the Responses request's.
_PARAMS = (
    (re.compile(r"^response_format\.json_schema"), "text.format"),
    (re.compile(r"^tools\[(\d+)\]\.function"), r"tools[\1]"),
    (re.compile(r"^max_(completion_)?tokens"), "max_output_tokens"),
    (re.compile(r"^messages(\[\d+\])?"), "input"),
)


def responses_param(param: str | None) -> str | None:
    for pattern, replacement in _PARAMS:
        if param is not None and pattern.match(param):
            return pattern.sub(replacement, param, count=1)
    return param


def dump(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json", by_alias=True)
