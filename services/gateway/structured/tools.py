"""OpenAI's `tools`, `tool_choice` and tool turns → the inference request, and the model's
`<tool_call>` blocks back into OpenAI `tool_calls`.

Every tool choice is enforced by the grammar: `required` and a named function give tool
calls only, their arguments held to the function's parameter schema; `auto` gives plain
text or tool calls, so any model, even one whose chat template has no tool format, can
call tools.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from services.gateway.structured.response_format import NAME
from services.gateway.structured.schema_check import check_schema
from tuneloop.inference.v1 import inference_pb2
from tuneloop_core.errors import InvalidRequestError
from tuneloop_core.tool_calls import TOOL_CALL_CLOSE, TOOL_CALL_OPEN

_CALL = re.compile(re.escape(TOOL_CALL_OPEN) + r"(.*?)" + re.escape(TOOL_CALL_CLOSE), re.DOTALL)


class FunctionDef(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class ToolDef(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: Literal["function"]
    function: FunctionDef


class NamedFunction(BaseModel):
    name: str


class NamedToolChoice(BaseModel):
    type: Literal["function"]
    function: NamedFunction


ToolChoice = Literal["none", "auto", "required"] | NamedToolChoice


class FunctionCall(BaseModel):
    name: str
    arguments: str  # a JSON object text, as OpenAI sends it


class ToolCallIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


def tool_definitions(tools: list[ToolDef] | None) -> list[inference_pb2.ToolDefinition]:
    out = []
    seen: set[str] = set()
    for index, tool in enumerate(tools or []):
        name = tool.function.name
        if not NAME.match(name):
            raise InvalidRequestError(
                f"invalid tool name {name!r}: 1-64 characters of a-z, A-Z, 0-9, _ and -",
                param=f"tools[{index}].function.name",
            )
        if name in seen:
            raise InvalidRequestError(
                f"tool {name!r} is defined twice", param=f"tools[{index}].function.name"
            )
        seen.add(name)
        parameters = tool.function.parameters
        if parameters is not None:
            check_schema(parameters, f"tools[{index}].function.parameters")
        out.append(
            inference_pb2.ToolDefinition(
                name=name,
                description=tool.function.description or "",
                parameters_json=json.dumps(parameters, ensure_ascii=False) if parameters else "",
            )
        )
    return out


def tool_constraint(
    tools: list[inference_pb2.ToolDefinition],
    choice: ToolChoice | None,
    parallel: bool | None,
) -> inference_pb2.OutputConstraint | None:
    """The grammar of the answer: None when tools are off (`none` or no tools)."""
    if not tools:
        if choice not in (None, "none"):
            raise InvalidRequestError("tool_choice needs tools", param="tool_choice")
        return None
    if choice == "none":
        return None
    spec = inference_pb2.ToolCallConstraint(
        mode=inference_pb2.TOOL_CHOICE_MODE_AUTO, parallel=parallel is not False
    )
    if isinstance(choice, NamedToolChoice):
        if choice.function.name not in {t.name for t in tools}:
            raise InvalidRequestError(
                f"tool_choice names {choice.function.name!r}, which is not in tools",
                param="tool_choice",
            )
        spec.mode = inference_pb2.TOOL_CHOICE_MODE_REQUIRED
        spec.names.append(choice.function.name)
        spec.parallel = False
    elif choice == "required":
        spec.mode = inference_pb2.TOOL_CHOICE_MODE_REQUIRED
    return inference_pb2.OutputConstraint(tool_calls=spec)


def check_tool_turns(messages: list[Any]) -> None:
    """Every tool turn answers a call an earlier assistant turn made."""
    calls: set[str] = set()
    for index, message in enumerate(messages):
        for call in message.tool_calls or []:
            try:
                arguments = json.loads(call.function.arguments or "{}")
            except ValueError as exc:
                raise InvalidRequestError(
                    f"tool call arguments are not JSON: {exc}",
                    param=f"messages[{index}].tool_calls",
                ) from exc
            if not isinstance(arguments, dict):
                raise InvalidRequestError(
                    "tool call arguments must be a JSON object",
                    param=f"messages[{index}].tool_calls",
                )
            calls.add(call.id)
        if message.role == "tool":
            if not message.tool_call_id:
                raise InvalidRequestError(
                    "a tool message needs tool_call_id", param=f"messages[{index}].tool_call_id"
                )
            if message.tool_call_id not in calls:
                raise InvalidRequestError(
                    f"tool_call_id {message.tool_call_id!r} answers no earlier tool call",
                    param=f"messages[{index}].tool_call_id",
                )


@dataclass
class ParsedCall:
    id: str
    name: str
    arguments: str


def _call(body: str) -> ParsedCall | None:
    try:
        value = json.loads(body)
    except ValueError:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("name"), str):
        return None
    arguments = value.get("arguments", {})
    return ParsedCall(
        id=f"call_{uuid.uuid4().hex[:24]}",
        name=value["name"],
        arguments=json.dumps(arguments, ensure_ascii=False),
    )


def split_tool_calls(text: str) -> tuple[str, list[ParsedCall]]:
    """The plain text of an answer and the tool calls in it."""
    calls = []
    for match in _CALL.finditer(text):
        call = _call(match.group(1))
        if call is not None:
            calls.append(call)
    plain = _CALL.sub("", text).strip() if calls else text
    return plain, calls


class ToolCallStream:
    """Splits a streamed answer into text deltas and whole tool calls: text that may be the
    start of `<tool_call>` is held back until it is clearly not."""

    def __init__(self) -> None:
        self._pending = ""
        self.calls = 0

    def feed(self, delta: str) -> tuple[str, list[ParsedCall]]:
        self._pending += delta
        text, calls = "", []
        while True:
            start = self._pending.find(TOOL_CALL_OPEN)
            if start < 0:
                keep = _partial_open(self._pending)
                text += self._pending[: len(self._pending) - keep]
                self._pending = self._pending[len(self._pending) - keep :]
                break
            text += self._pending[:start]
            end = self._pending.find(TOOL_CALL_CLOSE, start)
            if end < 0:
                self._pending = self._pending[start:]
                break
            body = self._pending[start + len(TOOL_CALL_OPEN) : end]
            self._pending = self._pending[end + len(TOOL_CALL_CLOSE) :]
            call = _call(body)
            if call is not None:
                calls.append(call)
            else:
                text += TOOL_CALL_OPEN + body + TOOL_CALL_CLOSE
        self.calls += len(calls)
        if self.calls:
            text = text.strip()  # separators between calls, not content
        return text, calls

    def flush(self) -> str:
        """What is left at the end (an unfinished call, when max_tokens cut it)."""
        rest, self._pending = self._pending, ""
        return rest


def _partial_open(text: str) -> int:
    """Length of the longest end of `text` that begins `<tool_call>`."""
    for size in range(min(len(text), len(TOOL_CALL_OPEN) - 1), 0, -1):
        if TOOL_CALL_OPEN.startswith(text[-size:]):
            return size
    return 0
