"""Reading `<tool_call>` blocks back out of an answer, whole and streamed in pieces."""

from __future__ import annotations

import json

import pytest

from services.gateway.structured.tools import ToolCallStream, split_tool_calls

CALL = '<tool_call>{"name": "get_weather", "arguments": {"city": "台北"}}</tool_call>'


def test_split_whole_answers() -> None:
    assert split_tool_calls("just text") == ("just text", [])
    plain, calls = split_tool_calls(f"Let me check.\n{CALL}\n{CALL}")
    assert plain == "Let me check."
    assert [c.name for c in calls] == ["get_weather", "get_weather"]
    assert json.loads(calls[0].arguments) == {"city": "台北"}
    assert calls[0].id != calls[1].id
    broken = "<tool_call>{not json}</tool_call>"
    assert split_tool_calls(broken) == (broken, [])


@pytest.mark.parametrize("size", [1, 2, 3, 7, 500])
def test_stream_in_pieces_gives_the_same_text_and_calls(size: int) -> None:
    answer = f"Sure <tool_ a<b {CALL}\n{CALL}"
    stream = ToolCallStream()
    text, names = "", []
    for start in range(0, len(answer), size):
        piece, calls = stream.feed(answer[start : start + size])
        text += piece
        names += [c.name for c in calls]
    text += stream.flush()
    assert names == ["get_weather", "get_weather"]
    assert text.replace(" ", "") == "Sure<tool_a<b"  # no call text leaks into content
    assert stream.calls == 2


def test_stream_keeps_an_unfinished_call_for_flush() -> None:
    stream = ToolCallStream()
    assert stream.feed('<tool_call>{"name": "get_wea') == ("", [])
    assert stream.flush() == '<tool_call>{"name": "get_wea'
