"""Turning a GenerationRequest into prompt token ids, the same way for every engine: chat
turns are rendered with the model's chat template (which carries its own special tokens);
a raw prompt is tokenized as-is with the tokenizer's usual special tokens."""

from __future__ import annotations

import json
from typing import Any

from services.inference.engines.base import GenerationRequest, ToolCallTurn
from tuneloop_core.errors import InvalidRequestError
from tuneloop_core.tool_calls import TOOL_CALL_CLOSE, TOOL_CALL_OPEN

TOOLS_PROMPT = (
    "You can call these functions. To call one, answer with\n"
    '<tool_call>{{"name": <function name>, "arguments": <arguments object>}}</tool_call>\n'
    "Functions:\n{functions}"
)


def _tool_schemas(request: GenerationRequest) -> list[dict[str, Any]]:
    return [
        {
            "type": "function",
            "function": {
                "name": tool.name,
                "description": tool.description,
                "parameters": json.loads(tool.parameters_json) if tool.parameters_json else {},
            },
        }
        for tool in request.tools
    ]


def _call_text(call: ToolCallTurn) -> str:
    arguments = json.loads(call.arguments_json or "{}")
    body = json.dumps({"name": call.name, "arguments": arguments}, ensure_ascii=False)
    return f"{TOOL_CALL_OPEN}{body}{TOOL_CALL_CLOSE}"


def _turns(request: GenerationRequest, native_tools: bool) -> list[dict[str, Any]]:
    """The turns as chat templates take them. A template without a tool format sees calls
    as `<tool_call>` text in the assistant turn and results as user turns."""
    turns: list[dict[str, Any]] = []
    for t in request.messages:
        if native_tools:
            turn: dict[str, Any] = {"role": t.role, "content": t.content}
            if t.tool_calls:
                turn["tool_calls"] = [
                    {
                        "id": c.id,
                        "type": "function",
                        "function": {"name": c.name, "arguments": json.loads(c.arguments_json)},
                    }
                    for c in t.tool_calls
                ]
            if t.role == "tool":
                turn.update(tool_call_id=t.tool_call_id, name=t.name)
            turns.append(turn)
        elif t.role == "tool":
            turns.append(
                {"role": "user", "content": f"<tool_response>\n{t.content}\n</tool_response>"}
            )
        else:
            calls = "\n".join(_call_text(c) for c in t.tool_calls)
            content = "\n".join(part for part in (t.content, calls) if part)
            turns.append({"role": t.role, "content": content})
    if request.tools and not native_tools:
        functions = "\n".join(
            json.dumps(s["function"], ensure_ascii=False) for s in _tool_schemas(request)
        )
        described = TOOLS_PROMPT.format(functions=functions)
        if turns and turns[0]["role"] == "system":
            turns[0] = {"role": "system", "content": f"{turns[0]['content']}\n\n{described}"}
        else:
            turns.insert(0, {"role": "system", "content": described})
    return turns


def has_tool_format(tokenizer: Any) -> bool:
    """Whether the chat template renders `tools` itself (it mentions them)."""
    template = getattr(tokenizer, "chat_template", None)
    return isinstance(template, str) and "tools" in template


def render_chat(tokenizer: Any, request: GenerationRequest) -> str:
    if getattr(tokenizer, "chat_template", None) is None:
        raise InvalidRequestError(
            "this model has no chat template; use /v1/completions with a raw prompt",
            param="messages",
        )
    native = has_tool_format(tokenizer)
    turns = _turns(request, native)
    extra = {"tools": _tool_schemas(request)} if native and request.tools else {}
    text: str = tokenizer.apply_chat_template(
        turns, add_generation_prompt=True, tokenize=False, **extra
    )
    return text


def prompt_token_ids(tokenizer: Any, request: GenerationRequest) -> list[int]:
    if request.messages:
        ids = tokenizer(render_chat(tokenizer, request), add_special_tokens=False)["input_ids"]
    elif request.prompt is not None:
        ids = tokenizer(request.prompt)["input_ids"]
    else:
        raise InvalidRequestError("a prompt or messages are required", param="prompt")
    return [int(i) for i in ids]


def eos_token_ids(tokenizer: Any, generation_config: Any) -> set[int]:
    """Every token that ends a turn: the generation config's and the tokenizer's EOS."""
    ids: set[int] = set()
    configured = getattr(generation_config, "eos_token_id", None)
    if isinstance(configured, int):
        ids.add(configured)
    elif configured:
        ids.update(int(i) for i in configured)
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    return ids
