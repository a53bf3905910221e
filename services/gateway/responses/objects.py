"""The response object and its output items, built the same way for a streamed and a
whole answer."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from services.gateway.chat.protocol import ChatCompletionRequest, Usage
from services.gateway.responses.convert import dump, new_id
from services.gateway.responses.protocol import (
    CreateResponseRequest,
    FunctionCallItem,
    IncompleteDetails,
    Item,
    MessageItem,
    OutputItem,
    OutputText,
    ResponseObject,
    ResponseUsage,
    Status,
)


@dataclass
class Prepared:
    """A checked request: what the model is given, and the chat request that answers."""

    request: CreateResponseRequest
    model: str
    history: list[Item]  # the chained responses' input and output items
    items: list[Item]  # this request's input
    chat: ChatCompletionRequest
    id: str = field(default_factory=lambda: new_id("resp"))
    created_at: int = field(default_factory=lambda: int(time.time()))


def message(text: str, status: Status = "completed", item_id: str | None = None) -> MessageItem:
    return MessageItem(
        id=item_id or new_id("msg"),
        role="assistant",
        status=status,
        content=[OutputText(text=text)],
    )


def function_call(call_id: str, name: str, arguments: str) -> FunctionCallItem:
    return FunctionCallItem(id=new_id("fc"), call_id=call_id, name=name, arguments=arguments)


def usage(chat_usage: Usage | None) -> ResponseUsage | None:
    if chat_usage is None:
        return None
    return ResponseUsage(
        input_tokens=chat_usage.prompt_tokens,
        output_tokens=chat_usage.completion_tokens,
        total_tokens=chat_usage.total_tokens,
    )


def response(
    prepared: Prepared,
    output: list[OutputItem],
    finish: str | None = None,
    chat_usage: Usage | None = None,
) -> ResponseObject:
    """The response object; `finish` None means still in progress."""
    req, chat = prepared.request, prepared.chat
    status = "in_progress" if finish is None else "completed"
    incomplete = None
    if finish == "length":
        status, incomplete = "incomplete", IncompleteDetails(reason="max_output_tokens")
    text_format = req.text.format if req.text and req.text.format else None
    return ResponseObject(
        id=prepared.id,
        created_at=prepared.created_at,
        completed_at=int(time.time()) if status == "completed" else None,
        status=status,
        incomplete_details=incomplete,
        instructions=req.instructions,
        max_output_tokens=req.max_output_tokens,
        model=prepared.model,
        output=output,
        parallel_tool_calls=req.parallel_tool_calls is not False,
        previous_response_id=req.previous_response_id,
        reasoning=dump(req.reasoning) if req.reasoning else {"effort": None, "summary": None},
        store=req.store is not False,
        temperature=1.0 if req.temperature is None else req.temperature,
        text={
            "format": text_format.model_dump(by_alias=True, exclude_none=True)
            if text_format
            else {"type": "text"}
        },
        tool_choice=req.tool_choice or "auto",
        tools=[{"type": "function", **dump(tool.function)} for tool in chat.tools or []],
        top_p=1.0 if req.top_p is None else req.top_p,
        truncation=req.truncation or "disabled",
        usage=usage(chat_usage),
        user=req.user,
        metadata=req.metadata or {},
    )
