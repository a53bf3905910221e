"""The Responses API (`/v1/responses`) through the unmodified `openai` SDK, on the bundled
SmolLM2-135M: structured text formats streamed and not, a function tool round trip,
`previous_response_id` chaining, retrieve/delete, tenancy, and refusals naming the param."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jsonschema
import openai
import pytest
import pytest_asyncio
from pydantic import BaseModel, Field

from support.smollm2 import SERVED_AS
from support.stack import TINY, ApiStack, api_stack

pytestmark = pytest.mark.asyncio(loop_scope="module")
MODEL = SERVED_AS
CITY = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "maxLength": 24},
        "country": {"type": "string", "maxLength": 24},
    },
    "required": ["city", "country"],
    "additionalProperties": False,
}
CITY_FORMAT: Any = {
    "format": {"type": "json_schema", "name": "city", "schema": CITY, "strict": True}
}
WEATHER_TOOL: Any = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather of a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string", "maxLength": 24}},
        "required": ["city"],
        "additionalProperties": False,
    },
    "strict": True,
}


class City(BaseModel):
    city: str = Field(max_length=24)
    country: str = Field(max_length=24)


async def test_json_schema_text_format(smollm2: openai.AsyncOpenAI) -> None:
    response = await smollm2.responses.create(
        model=MODEL,
        instructions="Answer in JSON.",
        input="Name a big city and its country.",
        text=CITY_FORMAT,
        temperature=0,
        max_output_tokens=64,
    )
    assert response.object == "response" and response.id.startswith("resp_")
    assert response.status == "completed" and response.error is None
    message = response.output[0]
    assert message.type == "message" and message.id.startswith("msg_")
    jsonschema.validate(json.loads(response.output_text), CITY)
    assert response.usage is not None and response.usage.output_tokens > 0
    assert response.usage.total_tokens == response.usage.input_tokens + response.usage.output_tokens
    assert response.text is not None and response.text.format is not None
    assert response.text.format.type == "json_schema" and response.instructions == "Answer in JSON."


async def test_parse_with_a_pydantic_model(smollm2: openai.AsyncOpenAI) -> None:
    parsed = await smollm2.responses.parse(
        model=MODEL, input="Name a big city and its country.", text_format=City,
        temperature=0, max_output_tokens=64,
    )  # fmt: skip
    assert isinstance(parsed.output_parsed, City) and parsed.output_parsed.city


async def test_json_schema_streamed_with_typed_events(smollm2: openai.AsyncOpenAI) -> None:
    stream = await smollm2.responses.create(
        model=MODEL, input="Give me the facts about Tokyo.", text=CITY_FORMAT,
        temperature=0, max_output_tokens=64, stream=True,
    )  # fmt: skip
    events = [event async for event in stream]
    kinds = [e.type for e in events]
    assert kinds[:4] == [
        "response.created", "response.in_progress",
        "response.output_item.added", "response.content_part.added",
    ]  # fmt: skip
    assert kinds[-4:] == [
        "response.output_text.done", "response.content_part.done",
        "response.output_item.done", "response.completed",
    ]  # fmt: skip
    assert [e.sequence_number for e in events] == list(range(len(events)))
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    jsonschema.validate(json.loads(text), CITY)
    done = events[-1]
    assert done.type == "response.completed" and done.response.output_text == text
    stored = await smollm2.responses.retrieve(done.response.id)
    assert stored.output_text == text and stored.status == "completed"


async def test_stream_helper_parses(smollm2: openai.AsyncOpenAI) -> None:
    async with smollm2.responses.stream(
        model=MODEL, input="Name a big city and its country.", text_format=City,
        temperature=0, max_output_tokens=64,
    ) as stream:  # fmt: skip
        deltas = [e.delta async for e in stream if e.type == "response.output_text.delta"]
        final = await stream.get_final_response()
    assert "".join(deltas) == final.output_text
    assert isinstance(final.output_parsed, City)


async def test_function_tool_round_trip(smollm2: openai.AsyncOpenAI) -> None:
    first = await smollm2.responses.create(
        model=MODEL, input="What is the weather in Paris right now?", tools=[WEATHER_TOOL],
        tool_choice={"type": "function", "name": "get_weather"}, temperature=0,
        max_output_tokens=64,
    )  # fmt: skip
    [call] = first.output
    assert call.type == "function_call" and call.name == "get_weather"
    assert call.call_id.startswith("call_") and call.id and call.id.startswith("fc_")
    jsonschema.validate(json.loads(call.arguments), WEATHER_TOOL["parameters"])
    assert first.tools[0].type == "function" and first.tool_choice.type == "function"  # type: ignore[union-attr]
    second = await smollm2.responses.create(
        model=MODEL,
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "21 °C, sunny"}],
        tools=[WEATHER_TOOL], tool_choice="none", temperature=0, max_output_tokens=32,
    )  # fmt: skip
    assert second.output[0].type == "message" and second.output_text.strip()
    assert second.previous_response_id == first.id
    items = (await smollm2.responses.input_items.list(second.id, order="asc")).data
    assert [i.type for i in items] == ["message", "function_call", "function_call_output"]


async def test_function_call_streamed(smollm2: openai.AsyncOpenAI) -> None:
    stream = await smollm2.responses.create(
        model=MODEL, input="What is the weather in Paris right now?", tools=[WEATHER_TOOL],
        tool_choice="required", parallel_tool_calls=False, temperature=0, max_output_tokens=64,
        stream=True,
    )  # fmt: skip
    events = [event async for event in stream]
    kinds = [e.type for e in events]
    assert "response.function_call_arguments.delta" in kinds
    done = next(e for e in events if e.type == "response.function_call_arguments.done")
    jsonschema.validate(json.loads(done.arguments), WEATHER_TOOL["parameters"])
    final = events[-1]
    assert final.type == "response.completed"
    assert [o.type for o in final.response.output] == ["function_call"]


async def test_previous_response_id_chains(smollm2: openai.AsyncOpenAI) -> None:
    first = await smollm2.responses.create(
        model=MODEL, input="My name is Zorblax. Say hello.", temperature=0, max_output_tokens=16
    )
    second = await smollm2.responses.create(
        previous_response_id=first.id, input="What is my name?", temperature=0,
        max_output_tokens=16,
    )  # fmt: skip
    assert second.model == MODEL  # taken from the previous response
    assert first.usage and second.usage
    assert second.usage.input_tokens > first.usage.input_tokens + first.usage.output_tokens
    items = (await smollm2.responses.input_items.list(second.id)).data  # newest first
    texts = [c.text for i in items if i.type == "message" for c in i.content]  # type: ignore[union-attr]
    assert texts == ["What is my name?", first.output_text, "My name is Zorblax. Say hello."]
    assert items[1].role == "assistant"  # type: ignore[union-attr]
    page = await smollm2.responses.input_items.list(second.id, limit=1, after=items[0].id)
    assert [i.id for i in page.data] == [items[1].id] and page.has_more


async def test_max_output_tokens_is_incomplete(smollm2: openai.AsyncOpenAI) -> None:
    response = await smollm2.responses.create(
        model=MODEL, input="Tell me a long story.", max_output_tokens=3, temperature=0
    )
    assert response.status == "incomplete"
    assert response.incomplete_details and response.incomplete_details.reason == "max_output_tokens"
    assert response.usage and response.usage.output_tokens == 3


async def test_retrieve_delete_and_store_false(smollm2: openai.AsyncOpenAI) -> None:
    response = await smollm2.responses.create(
        model=MODEL, input="Hi", max_output_tokens=4, metadata={"run": "7"}
    )
    again = await smollm2.responses.retrieve(response.id)
    assert again.output_text == response.output_text and again.metadata == {"run": "7"}
    with pytest.raises(openai.BadRequestError, match="background"):
        await smollm2.responses.cancel(response.id)
    await smollm2.responses.delete(response.id)
    with pytest.raises(openai.NotFoundError):
        await smollm2.responses.retrieve(response.id)
    unstored = await smollm2.responses.create(
        model=MODEL, input="Hi", max_output_tokens=4, store=False
    )
    assert (unstored.model_extra or {})["store"] is False
    with pytest.raises(openai.NotFoundError) as caught:
        await smollm2.responses.create(
            model=MODEL, input="Hi", previous_response_id=unstored.id, max_output_tokens=4
        )
    assert caught.value.body["param"] == "previous_response_id"  # type: ignore[index]


async def test_another_tenant_cannot_see_a_response(
    smollm2: openai.AsyncOpenAI, smollm2_stack: ApiStack
) -> None:
    mine = await smollm2.responses.create(model=MODEL, input="Hi", max_output_tokens=4)
    other = openai.AsyncOpenAI(
        base_url=f"{smollm2_stack.url}/v1", api_key=smollm2_stack.key("globex"), max_retries=0
    )
    with pytest.raises(openai.NotFoundError):
        await other.responses.retrieve(mine.id)
    with pytest.raises(openai.NotFoundError):
        await other.responses.input_items.list(mine.id)
    with pytest.raises(openai.NotFoundError):
        await other.responses.delete(mine.id)
    with pytest.raises(openai.NotFoundError):
        await other.responses.cancel(mine.id)
    with pytest.raises(openai.NotFoundError):
        await other.responses.create(
            model=MODEL, input="Hi", previous_response_id=mine.id, max_output_tokens=4
        )
    assert (await smollm2.responses.retrieve(mine.id)).id == mine.id  # still there


BAD: list[tuple[dict[str, Any], str]] = [
    ({"input": [{"role": "user", "content": [{"type": "input_image", "image_url": "x"}]}]},
     "input[0].content[0].type"),
    ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "input[0].type"),
    ({"input": "Hi", "tools": [{"type": "web_search"}]}, "tools[0].type"),
    ({"input": "Hi", "tools": [{**WEATHER_TOOL, "parameters": {"type": "object", "not": {}}}]},
     "tools[0].parameters"),
    ({"input": "Hi", "text": {"format": {"type": "json_schema", "name": "x",
                                         "schema": {"type": "nope"}}}}, "text.format.schema"),
    ({"input": "Hi", "tool_choice": "required"}, "tool_choice"),
    ({"input": [{"type": "function_call_output", "call_id": "call_x", "output": "1"}]},
     "input[0].call_id"),
    ({"input": [{"role": "robot", "content": "Hi"}]}, "input[0].role"),
    ({"input": "Hi", "background": True}, "background"),
    ({"input": "Hi", "max_output_tokens": 0}, "max_output_tokens"),
    ({"input": []}, "input"),
    ({"model": None, "input": "Hi"}, "model"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "param"), BAD, ids=[param for _, param in BAD])
async def test_bad_requests_name_the_param(
    smollm2_stack: ApiStack, body: dict[str, Any], param: str
) -> None:
    async with httpx.AsyncClient(
        base_url=smollm2_stack.url,
        headers={"Authorization": f"Bearer {smollm2_stack.key('acme')}"},
    ) as http:
        reply = await http.post("/v1/responses", json={"model": MODEL, **body})
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    assert error["param"] == param and error["type"] == "invalid_request_error", error


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def tiny(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[openai.AsyncOpenAI]:
    """The SDK against a stack serving only the tiny model (a 256-token context)."""
    async with api_stack(tmp_path_factory.mktemp("responses-tiny")) as stack:
        yield openai.AsyncOpenAI(
            base_url=f"{stack.url}/v1", api_key=stack.key("acme"), max_retries=0
        )


async def test_truncation_auto_drops_the_oldest_turns(tiny: openai.AsyncOpenAI) -> None:
    long = "The quick brown fox jumps over the lazy dog. " * 4  # over half the context
    first = await tiny.responses.create(model=TINY, input=long, max_output_tokens=8)
    with pytest.raises(openai.BadRequestError) as caught:
        await tiny.responses.create(
            model=TINY, input=long, previous_response_id=first.id, max_output_tokens=8
        )
    error: Any = caught.value.body
    assert error["code"] == "context_length_exceeded" and error["param"] == "max_output_tokens"
    second = await tiny.responses.create(
        model=TINY, input=long, previous_response_id=first.id, max_output_tokens=8,
        truncation="auto",
    )  # fmt: skip
    assert second.truncation == "auto" and second.usage and first.usage
    assert second.usage.input_tokens == first.usage.input_tokens  # the first turn dropped
    items = (await tiny.responses.input_items.list(second.id)).data
    assert len(items) == 3  # what is stored stays whole


async def test_stream_names_each_event_and_errors_come_first(tiny: openai.AsyncOpenAI) -> None:
    async with tiny.responses.with_streaming_response.create(
        model=TINY, input="Hi", max_output_tokens=2, stream=True
    ) as raw:
        lines = [line async for line in raw.iter_lines() if line]
    assert lines[:2] == ["event: response.created", lines[1]] and lines[1].startswith("data: ")
    assert "event: response.completed" in lines or "event: response.incomplete" in lines
    with pytest.raises(openai.NotFoundError):  # a plain 404, not an error inside a stream
        await tiny.responses.create(model="no-such-model", input="Hi", stream=True)
