"""The gateway's SSE writer: OpenAI's framing byte for byte, keep-alive pings on a silent
stream, and a client that goes away stopping the generation behind its stream."""

from __future__ import annotations

import asyncio
import gc
import json
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route

from services.gateway.chat.protocol import ChatChunkChoice, ChatCompletionChunk, ChatDelta
from services.gateway.streaming import EventStreamResponse, sse_response
from services.inference.catalog import Catalog
from support.stack import TINY, ApiStack, api_stack
from tuneloop_core.errors import InvalidRequestError

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ApiStack]:
    async with api_stack(tmp_path_factory.mktemp("sse")) as running_stack:
        yield running_stack


class Named(BaseModel):
    type: str
    text: str | None = None


def _app(response: EventStreamResponse) -> httpx.AsyncClient:
    async def route(_: Request) -> EventStreamResponse:
        return response

    app = Starlette(routes=[Route("/", route)])
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def _models(*chunks: BaseModel, error: Exception | None = None) -> AsyncIterator[BaseModel]:
    for chunk in chunks:
        yield chunk
    if error is not None:
        raise error


async def test_framing_is_openai_s_byte_for_byte() -> None:
    chunk = ChatCompletionChunk(
        id="chatcmpl-1",
        created=1,
        model="m",
        choices=[ChatChunkChoice(index=0, delta=ChatDelta(content='"é"\n\u2028'))],
    )
    bad = InvalidRequestError("no such thing", param="x")
    async with _app(sse_response(_models(chunk, error=bad))) as http:
        response = await http.get("/")
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-accel-buffering"] == "no"
    events = response.content.split(b"\n\n")
    assert events[0] == b"data: " + chunk.model_dump_json().encode()
    assert json.loads(events[1].removeprefix(b"data: ")) == bad.envelope()
    assert events[2:] == [b"data: [DONE]", b""]


async def test_event_names_come_from_each_chunk_s_type() -> None:
    chunks = _models(Named(type="response.created"), Named(type="response.output_text.delta"))
    async with _app(sse_response(chunks, event_names=True)) as http:
        body = (await http.get("/")).content
    assert body == (
        b'event: response.created\ndata: {"type":"response.created","text":null}\n\n'
        b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta",'
        b'"text":null}\n\n'
        b"data: [DONE]\n\n"
    )


async def test_a_silent_stream_is_pinged_and_a_busy_one_is_not() -> None:
    async def slow() -> AsyncIterator[bytes]:
        yield b"data: 1\n\n"
        await asyncio.sleep(0.35)
        yield b"data: 2\n\n"

    async with _app(EventStreamResponse(slow(), ping_s=0.1)) as http:
        body = (await http.get("/")).content
    assert body.startswith(b"data: 1\n\n: ping\n\n: ping\n\n") and body.endswith(b"data: 2\n\n")

    async def busy() -> AsyncIterator[bytes]:
        for i in range(20):
            await asyncio.sleep(0.01)
            yield b"data: %d\n\n" % i

    async with _app(EventStreamResponse(busy(), ping_s=0.1)) as http:
        body = (await http.get("/")).content
    assert b"ping" not in body


def _generating() -> int:
    """Generate calls running in the (in-process) inference service."""
    catalogs = [o for o in gc.get_objects() if type(o) is Catalog]
    return sum(sum(c._in_flight.values()) for c in catalogs)


async def test_a_client_that_goes_away_leaves_no_generation_running(stack: ApiStack) -> None:
    body = {
        "model": TINY,
        "messages": [{"role": "user", "content": "Tell me everything."}],
        "stream": True,
        "max_tokens": 200,
        "temperature": 1.0,
        "seed": 7,
    }
    headers = {"Authorization": f"Bearer {stack.key('acme')}"}
    async with httpx.AsyncClient(base_url=stack.url, headers=headers, timeout=120) as http:
        before = _generating()  # stacks of earlier tests may have left catalogs in memory
        async with http.stream("POST", "/v1/chat/completions", json=body) as stream:
            lines = stream.aiter_lines()
            assert (await anext(lines)).startswith("data: ")
            assert _generating() == before + 1
        closed = asyncio.get_running_loop().time()
        while _generating() > before and asyncio.get_running_loop().time() - closed < 5:
            await asyncio.sleep(0.005)
    assert _generating() == before  # the generation ended with the client, none leaked
