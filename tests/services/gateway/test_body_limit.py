"""Request bodies other than uploads are capped (TUNELOOP_GATEWAY_MAX_REQUEST_MB): 413 in the
OpenAI envelope, whether the size is declared or the body arrives in chunks; uploads keep
their own, larger cap."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator

import httpx

from services.gateway.app import create_app
from support.gateway import Gateway, assert_envelope

LIMIT_MB = 1


async def capped(gateway: Gateway) -> httpx.AsyncClient:
    settings = gateway.state.settings.model_copy(update={"max_request_mb": LIMIT_MB})
    app = create_app(dataclasses.replace(gateway.state, settings=settings))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://gw", headers=gateway.auth())


def chat_body(size: int) -> bytes:
    padding = "字" * (size // 3)  # 3 bytes each in UTF-8
    body = {"model": "tiny", "messages": [{"role": "user", "content": padding}]}
    return json.dumps(body, ensure_ascii=False).encode()


async def in_chunks(body: bytes, size: int = 64 << 10) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


async def test_a_body_over_the_cap_is_413_declared_or_chunked(gateway: Gateway) -> None:
    over = chat_body((LIMIT_MB << 20) + 1000)
    async with await capped(gateway) as http:
        declared = await http.post("/v1/chat/completions", content=over)
        error = assert_envelope(declared, 413, "payload_too_large")
        assert "1 MiB" in str(error["message"])
        chunked = await http.post("/v1/chat/completions", content=in_chunks(over))
        assert "content-length" not in chunked.request.headers
        assert_envelope(chunked, 413, "payload_too_large")
        # The same route still answers a body under the cap as usual.
        under = await http.post("/v1/chat/completions", content=chat_body(LIMIT_MB << 19))
        assert under.status_code != 413, under.text


async def test_uploads_are_capped_by_their_own_limit(gateway: Gateway) -> None:
    content = b'{"messages": []}\n' * ((LIMIT_MB << 20) // 17 + 1000)
    async with await capped(gateway) as http:
        response = await http.post(
            "/v1/files", files={"file": ("big.jsonl", content)}, data={"purpose": "fine-tune"}
        )
    assert response.status_code == 200, response.text
    assert response.json()["bytes"] == len(content)


async def test_the_default_cap_leaves_ordinary_requests_alone(gateway: Gateway) -> None:
    assert gateway.state.settings.max_request_mb == 16
    response = await gateway.http.post(
        "/v1/chat/completions", content=chat_body(2 << 20), headers=gateway.auth()
    )
    assert response.status_code != 413, response.text
