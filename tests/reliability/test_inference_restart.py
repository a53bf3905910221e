"""When the inference service goes away mid-stream, the client gets an error event in the
OpenAI envelope (and the stream ends), not a hang; once it is back on its address, the
same gateway serves requests again without a restart of its own."""

from __future__ import annotations

import asyncio
from pathlib import Path

import openai
import pytest

from support.stack import TINY, api_stack


async def test_inference_stopping_mid_stream_sends_an_error_then_recovers(tmp_path: Path) -> None:
    async with api_stack(tmp_path, fixed_ports=True, shutdown_grace_s=0) as stack:
        client = openai.AsyncOpenAI(
            base_url=f"{stack.url}/v1", api_key=stack.key("acme"), max_retries=0
        )
        ask = {"model": TINY, "messages": [{"role": "user", "content": "Hello"}], "seed": 1}
        before = await client.chat.completions.create(**ask, max_tokens=8, temperature=0)
        stream = await client.chat.completions.create(
            **ask, max_tokens=230, temperature=1.0, stream=True
        )
        received = 0
        stopping: asyncio.Task[None] | None = None
        with pytest.raises(openai.APIError) as caught:
            async with asyncio.timeout(30):
                async for _chunk in stream:
                    received += 1
                    if stopping is None:
                        stopping = asyncio.create_task(stack.inference_stack.aclose())
        assert stopping is not None
        await stopping
        assert received >= 1
        assert caught.value.body is not None
        error = caught.value.body
        assert isinstance(error, dict) and {"message", "type", "code"} <= set(error)
        assert error["code"] in ("service_unavailable", "internal_error")

        # While it is down: a clear 503, at once.
        with pytest.raises(openai.APIStatusError) as down:
            async with asyncio.timeout(10):
                await client.chat.completions.create(**ask, max_tokens=8)
        assert down.value.status_code == 503

        await stack.restart_inference()
        async with asyncio.timeout(60):
            after = await client.chat.completions.create(**ask, max_tokens=8, temperature=0)
        assert after.choices[0].message.content == before.choices[0].message.content
        streamed = await client.chat.completions.create(
            **ask, max_tokens=8, temperature=0, stream=True
        )
        text = "".join([c.choices[0].delta.content or "" async for c in streamed if c.choices])
        assert text == before.choices[0].message.content
