"""Output constraints → one grammar (xgrammar EBNF text) that every engine enforces.

The servicer builds the grammar before any engine sees the request, so a constraint that
cannot be compiled is an INVALID_ARGUMENT naming what is wrong, never a silently free
answer. JSON is written compactly (`{"a": 1, "b": [2, 3]}`, no free whitespace): a small
model left free whitespace may pad until max_tokens.

Tool calls are written as `<tool_call>{"name": "f", "arguments": {...}}</tool_call>`, the
arguments held to the function's parameter schema; the gateway reads them back.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from services.inference.engines.base import ToolSpec
from tuneloop.inference.v1 import inference_pb2
from tuneloop_core.errors import InvalidRequestError
from tuneloop_core.tool_calls import TOOL_CALL_CLOSE, TOOL_CALL_OPEN

NO_ARGUMENTS: dict[str, Any] = {"type": "object", "properties": {}}


def _invalid(what: str, exc: Exception) -> InvalidRequestError:
    detail = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
    # xgrammar's messages start with "[time] /path/file.cc:line: "; keep what follows.
    detail = detail.split(": ", 1)[1] if detail.startswith("[") and ": " in detail else detail
    return InvalidRequestError(
        f"{what} cannot be enforced: {detail}", param="response_format", code="invalid_grammar"
    )


def _schema(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise _invalid(what, exc) from exc


def json_grammar(schema: Any) -> Any:
    """A compact-JSON grammar for `schema` (an xgrammar Grammar)."""
    import xgrammar as xgr

    return xgr.Grammar.from_json_schema(schema, any_whitespace=False, strict_mode=True)


def _tool_calls(spec: inference_pb2.ToolCallConstraint, tools: Sequence[ToolSpec]) -> Any:
    import xgrammar as xgr
    from xgrammar import structural_tag as st

    if not tools:
        raise InvalidRequestError("tool calls need at least one tool", param="tools")
    allowed = set(spec.names)
    unknown = allowed - {t.name for t in tools}
    if unknown:
        raise InvalidRequestError(f"unknown tool {sorted(unknown)[0]!r}", param="tool_choice")
    tags = []
    for tool in tools:
        if allowed and tool.name not in allowed:
            continue
        parameters = (
            _schema(tool.parameters_json, f"tool {tool.name}")
            if tool.parameters_json
            else NO_ARGUMENTS
        )
        arguments = str(json_grammar(parameters))
        begin = f'{TOOL_CALL_OPEN}{{"name": {json.dumps(tool.name)}, "arguments": '
        tags.append(
            st.TagFormat(
                begin=begin,
                content=st.GrammarFormat(grammar=arguments),
                end=f"}}{TOOL_CALL_CLOSE}",
            )
        )
    fmt: Any
    calls = st.TagsWithSeparatorFormat(
        tags=tags, separator="\n", at_least_one=True, stop_after_first=not spec.parallel
    )
    if spec.mode == inference_pb2.TOOL_CHOICE_MODE_REQUIRED:
        fmt = calls
    elif spec.HasField("answer"):  # an answer in the asked format, or calls
        if spec.answer.WhichOneof("kind") in (None, "tool_calls"):
            raise InvalidRequestError(
                "a tool call constraint's answer must be a format, not tool calls",
                param="response_format",
            )
        answer = grammar_for(spec.answer, tools)
        fmt = st.OrFormat(elements=[st.GrammarFormat(grammar=answer), calls])
    else:
        fmt = st.TriggeredTagsFormat(
            triggers=[TOOL_CALL_OPEN], tags=tags, stop_after_first=not spec.parallel
        )
    return xgr.Grammar.from_structural_tag(st.StructuralTag(format=fmt))


def grammar_for(
    constraint: inference_pb2.OutputConstraint, tools: Sequence[ToolSpec]
) -> str | None:
    """The EBNF grammar text of `constraint`, or None when the output is free."""
    import xgrammar as xgr

    kind = constraint.WhichOneof("kind")
    if kind is None:
        return None
    try:
        if kind == "json_schema":
            grammar = json_grammar(_schema(constraint.json_schema, "the JSON schema"))
        elif kind == "json_object":
            grammar = json_grammar({"type": "object"})
        elif kind == "regex":
            grammar = xgr.Grammar.from_regex(constraint.regex)
        elif kind == "choice":
            values = list(constraint.choice.values)
            if not values:
                raise InvalidRequestError("choice needs at least one value", param="choice")
            alternatives = " | ".join(json.dumps(v, ensure_ascii=False) for v in values)
            grammar = xgr.Grammar.from_ebnf(f"root ::= {alternatives}")
        elif kind == "grammar":
            grammar = xgr.Grammar.from_ebnf(constraint.grammar)
        else:
            grammar = _tool_calls(constraint.tool_calls, tools)
    except InvalidRequestError:
        raise
    except Exception as exc:  # xgrammar raises RuntimeError/ValueError with the reason
        raise _invalid(f"the {kind.replace('_', ' ')} constraint", exc) from exc
    return str(grammar)
