"""Ollama's native API refusing what it cannot do, in Ollama's `{"error": ...}` shape, as the
official `ollama` client sees it: keys, unknown models, model management that Tuneloop
does through its own routes, and request fields it does not support."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import ollama
import pytest
import pytest_asyncio

from support.stack import TINY, ApiStack, api_stack

pytestmark = pytest.mark.asyncio(loop_scope="module")
HI = [{"role": "user", "content": "hi"}]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ApiStack]:
    async with api_stack(tmp_path_factory.mktemp("ollama-errors")) as running_stack:
        yield running_stack


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def client(stack: ApiStack) -> ollama.AsyncClient:
    return ollama.AsyncClient(
        host=stack.url, headers={"Authorization": f"Bearer {stack.key('acme')}"}
    )


async def _error(stack: ApiStack, method: str, path: str, **kwargs: Any) -> tuple[int, str]:
    """Status and Ollama's error message of a raw request with acme's key."""
    headers = {"Authorization": f"Bearer {stack.key('acme')}"}
    async with httpx.AsyncClient(base_url=stack.url) as http:
        response = await http.request(method, path, headers=headers, **kwargs)
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"} and isinstance(body["error"], str), body
    return response.status_code, body["error"]


async def test_a_key_is_required(stack: ApiStack) -> None:
    for headers in ({}, {"Authorization": "Bearer sk-nope"}):
        anonymous = ollama.AsyncClient(host=stack.url, headers=headers)
        with pytest.raises(ollama.ResponseError) as caught:
            await anonymous.list()
        assert caught.value.status_code == 401
        assert "key" in caught.value.error.lower()
        with pytest.raises(ollama.ResponseError) as streamed:
            async for _ in await anonymous.chat(model=TINY, messages=HI, stream=True):
                pass
        assert streamed.value.status_code == 401


async def test_unknown_model_is_a_404_naming_what_is_served(client: ollama.AsyncClient) -> None:
    for attempt in (
        client.chat(model="llama3", messages=HI),
        client.generate(model="llama3", prompt="hi"),
        client.show("llama3"),
    ):
        with pytest.raises(ollama.ResponseError) as caught:
            await attempt
        assert caught.value.status_code == 404
        assert 'model "llama3" not found' in caught.value.error
        assert TINY in caught.value.error and "tuneloop models pull" in caught.value.error
    with pytest.raises(ollama.ResponseError) as streamed:
        async for _ in await client.chat(model="llama3", messages=HI, stream=True):
            pass
    assert streamed.value.status_code == 404


async def test_model_management_points_to_tuneloop_routes(
    stack: ApiStack, client: ollama.AsyncClient
) -> None:
    for attempt, route in (
        (client.pull("llama3"), "tuneloop models pull"),
        (client.create(model="mine", from_=TINY), "POST /v1/adapters"),
        (client.delete(TINY), "DELETE /v1/models"),
        (client.copy(TINY, "mine"), "POST /v1/fine_tuning/jobs"),
        (client.push("mine"), "POST /v1/exports"),
    ):
        with pytest.raises(ollama.ResponseError) as caught:
            await attempt
        assert caught.value.status_code == 400
        assert route in caught.value.error
    status, message = await _error(stack, "POST", "/api/blobs/sha256:abc", content=b"x")
    assert status == 400 and "POST /v1/adapters" in message
    assert TINY in [m.model for m in (await client.list()).models]  # still served


async def test_unsupported_fields_are_refused_clearly(client: ollama.AsyncClient) -> None:
    png = "iVBORw0KGgo="  # a PNG signature, base64
    for attempt, words in (
        (client.chat(model=TINY, messages=[{**HI[0], "images": [png]}]), "images"),
        (client.generate(model=TINY, prompt="hi", images=[png]), "images"),
        (client.chat(model=TINY, messages=HI, think=True), "does not support thinking"),
        (client.generate(model=TINY, prompt="hi", suffix="end"), "suffix"),
        (client.generate(model=TINY, prompt="hi", template="{{ .Prompt }}"), "template"),
        (client.generate(model=TINY, prompt="hi", context=[1, 2, 3]), "/api/chat"),
        (client.chat(model=TINY, messages=HI, options={"temperature": 5}), "temperature"),
        (client.chat(model=TINY, messages=HI, options={"num_predict": 0}), "num_predict"),
        (client.chat(model=TINY, messages=HI, options={"stop": list("abcde")}), "stop"),
        (client.chat(model=TINY, messages=HI, format={"type": "object", "not": {}}), "'not'"),
        (
            client.chat(model=TINY, messages=[{"role": "tool", "content": "1", "tool_name": "f"}]),
            "answers no earlier",
        ),
    ):
        with pytest.raises(ollama.ResponseError) as caught:
            await attempt
        assert caught.value.status_code == 400, caught.value
        assert words in caught.value.error


async def test_options_ollama_clients_send_are_ignored_not_refused(
    client: ollama.AsyncClient,
) -> None:
    options = {"num_ctx": 4096, "repeat_penalty": 1.1, "mirostat": 0, "num_thread": 2}
    reply = await client.chat(
        model=f"{TINY}:latest",
        messages=HI,
        options={**options, "num_predict": 2, "temperature": 0},
        keep_alive="5m",
        think=False,
    )
    assert reply.done and reply.eval_count is not None and 0 < reply.eval_count <= 2


async def test_errors_have_ollamas_shape_and_v1_keeps_openais(stack: ApiStack) -> None:
    status, message = await _error(stack, "GET", "/api/nothing-here")
    assert status == 404 and "/api/nothing-here" in message
    status, message = await _error(stack, "POST", "/api/chat", content=b"{not json")
    assert status == 400 and "JSON" in message
    # `curl URL -d '{...}'`, as Ollama's documentation writes it, sends a form Content-Type.
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    async with httpx.AsyncClient(base_url=stack.url) as http:
        as_curl = await http.post(
            "/api/generate",
            content=json.dumps({"model": TINY, "prompt": "hi", "stream": False}).encode(),
            headers={"Authorization": f"Bearer {stack.key('acme')}", **form},
        )
    assert as_curl.status_code == 200 and as_curl.json()["done"] is True
    status, message = await _error(stack, "POST", "/api/chat", json={"messages": HI})
    assert status == 400 and "model" in message
    status, message = await _error(stack, "GET", "/api/chat")
    assert status == 405
    async with httpx.AsyncClient(base_url=stack.url) as http:
        openai_shape = await http.get("/v1/models")
    assert openai_shape.status_code == 401
    assert set(openai_shape.json()["error"]) == {"message", "type", "param", "code"}


async def test_version_and_load_requests(stack: ApiStack, client: ollama.AsyncClient) -> None:
    async with httpx.AsyncClient(base_url=stack.url) as http:
        version = await http.get(
            "/api/version", headers={"Authorization": f"Bearer {stack.key('acme')}"}
        )
    assert version.status_code == 200
    assert [int(part) for part in version.json()["version"].split(".")] >= [0, 5, 0]
    # An empty prompt or conversation loads the model, as Ollama answers it.
    for loaded in (
        await client.generate(model=TINY, prompt=""),
        await client.chat(model=TINY, messages=[]),
    ):
        assert loaded.done and loaded.done_reason == "load"
