"""When the inference service goes away mid-stream, the client gets an error event in the
OpenAI envelope (and the stream ends), not a hang."""

from __future__ import annotations

import asyncio
from pathlib import Path

import openai
import pytest

from support.stack import TINY, api_stack


async def test_inference_stopping_mid_stream_sends_an_error_event(tmp_path: Path) -> None:
    async with api_stack(tmp_path, shutdown_grace_s=0) as stack:
        client = openai.AsyncOpenAI(
            base_url=f"{stack.url}/v1", api_key=stack.key("acme"), max_retries=0
        )
        stream = await client.chat.completions.create(
            model=TINY,
            messages=[{"role": "user", "content": "Hello"}],
            max_tokens=230,
            temperature=1.0,
            seed=1,
            stream=True,
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
