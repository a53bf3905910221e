"""The grammars `grammar_for` builds, checked against strings with xgrammar itself: what a
constraint lets through and what it stops, before any engine or model is involved."""

from __future__ import annotations

import json

import pytest
import xgrammar as xgr
from xgrammar.testing import _is_grammar_accept_string

from services.inference.constraints import grammar_for
from services.inference.engines.base import ToolSpec
from tuneloop.inference.v1 import inference_pb2
from tuneloop_core.errors import InvalidRequestError
from tuneloop_core.tool_calls import TOOL_CALL_CLOSE, TOOL_CALL_OPEN

WEATHER = ToolSpec(
    "get_weather",
    "Weather in a city",
    json.dumps(
        {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
            "additionalProperties": False,
        }
    ),
)
ANSWER_SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "string"}},
    "required": ["answer"],
    "additionalProperties": False,
}
CALL = (
    f'{TOOL_CALL_OPEN}{{"name": "get_weather", "arguments": {{"city": "Taipei"}}}}{TOOL_CALL_CLOSE}'
)


def accepts(grammar: str, text: str) -> bool:
    return bool(_is_grammar_accept_string(xgr.Grammar.from_ebnf(grammar), text))


def tool_constraint(mode: int, answer: inference_pb2.OutputConstraint | None = None) -> str:
    spec = inference_pb2.ToolCallConstraint(mode=mode, parallel=False)
    if answer is not None:
        spec.answer.CopyFrom(answer)
    grammar = grammar_for(inference_pb2.OutputConstraint(tool_calls=spec), [WEATHER])
    assert grammar is not None
    return grammar


def test_auto_with_an_answer_format_allows_a_call_or_that_format_only() -> None:
    answer = inference_pb2.OutputConstraint(json_schema=json.dumps(ANSWER_SCHEMA))
    grammar = tool_constraint(inference_pb2.TOOL_CHOICE_MODE_AUTO, answer)
    assert accepts(grammar, CALL)
    assert accepts(grammar, '{"answer": "sunny"}')
    assert not accepts(grammar, "It is sunny.")  # plain text is not the format
    assert not accepts(grammar, '{"answer": "sunny", "extra": 1}')
    assert not accepts(grammar, CALL.replace("Taipei", '1"'))  # arguments off their schema


def test_auto_without_an_answer_format_allows_text_or_a_call() -> None:
    grammar = tool_constraint(inference_pb2.TOOL_CHOICE_MODE_AUTO)
    assert accepts(grammar, "It is sunny.")
    assert accepts(grammar, CALL)


def test_required_allows_calls_only() -> None:
    grammar = tool_constraint(inference_pb2.TOOL_CHOICE_MODE_REQUIRED)
    assert accepts(grammar, CALL)
    assert not accepts(grammar, '{"answer": "sunny"}')


def test_an_answer_that_is_itself_tool_calls_is_refused() -> None:
    nested = inference_pb2.OutputConstraint(
        tool_calls=inference_pb2.ToolCallConstraint(mode=inference_pb2.TOOL_CHOICE_MODE_AUTO)
    )
    with pytest.raises(InvalidRequestError, match="not tool calls"):
        tool_constraint(inference_pb2.TOOL_CHOICE_MODE_AUTO, nested)
