"""A small OpenAI-protocol chat server for datagen tests (a remote teacher cannot run here):
`POST /v1/chat/completions` answers with deterministic JSON chosen by what the prompt
contains, including malformed answers, server errors and hangs on purpose. It can refuse
`response_format` the way endpoints without constrained decoding do (HTTP 400 naming it),
and it keeps each request's body for tests that check the schemas sent."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tests.conftest import free_port

# (prompt, temperature) → text, an HTTP status, or a float: hang that many seconds (a
# teacher that times out), then answer 504.
Answer = Callable[[str, float], str | int | float]


def _completion(text: str, model: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


REFUSAL = {
    "error": {
        "message": "response_format is not supported by this model",
        "type": "invalid_request_error",
        "param": "response_format",
        "code": None,
    }
}


def app_for(
    answer: Answer,
    calls: list[str],
    refuse_response_format: bool = False,
    requests: list[dict[str, Any]] | None = None,
) -> FastAPI:
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def complete(request: Request) -> JSONResponse:
        body = await request.json()
        if requests is not None:
            requests.append(body)
        if refuse_response_format and "response_format" in body:
            return JSONResponse(REFUSAL, status_code=400)
        prompt = body["messages"][-1]["content"]
        calls.append(prompt)
        reply = answer(prompt, float(body.get("temperature") or 0.0))
        if isinstance(reply, float):
            await asyncio.sleep(reply)
            reply = 504
        if isinstance(reply, int):
            error = {"error": {"message": "boom", "type": "server_error", "code": None}}
            return JSONResponse(error, status_code=reply)
        return JSONResponse(_completion(reply, body["model"]))

    return app


@contextmanager
def fake_teacher(
    answer: Answer,
    *,
    refuse_response_format: bool = False,
    requests: list[dict[str, Any]] | None = None,
) -> Iterator[tuple[str, list[str]]]:
    """(base URL ending in /v1, the prompts answered) while the server runs. With
    `refuse_response_format`, a request carrying one gets a 400 instead of an answer;
    `requests`, when given, receives every request body."""
    calls: list[str] = []
    port = free_port()
    app = app_for(answer, calls, refuse_response_format, requests)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the fake teacher did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}/v1", calls
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def as_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)
