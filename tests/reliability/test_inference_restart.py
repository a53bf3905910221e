"""When the inference service goes away mid-stream, the client gets an error event in the
OpenAI envelope (and the stream ends), not a hang; once it is back on its address, the
same gateway serves requests again without a restart of its own. An evaluation's answers
wait for it to come back instead."""

from __future__ import annotations

import asyncio
from pathlib import Path

import openai
import pytest

from services.evaluator.generation import GenerationSettings, generate_answer, generate_answers
from support.stack import TINY, api_stack
from tuneloop.inference.v1 import inference_pb2, inference_pb2_grpc
from tuneloop_core.errors import ServiceUnavailableError
from tuneloop_core.grpc.client import open_channel


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


async def test_evaluation_answers_wait_for_the_inference_service_to_come_back(
    tmp_path: Path,
) -> None:
    async with api_stack(tmp_path, fixed_ports=True, shutdown_grace_s=0) as stack:
        port = stack.inference_settings.grpc_port
        async with open_channel(f"127.0.0.1:{port}") as channel:
            stub = inference_pb2_grpc.InferenceServiceStub(channel)
            conversations = [[{"role": "user", "content": f"question {i}"}] for i in range(4)]
            settings = GenerationSettings(max_tokens=6)
            before = await generate_answers(stub, "acme", TINY, conversations, settings)
            await stack.inference_stack.aclose()

            # Without patience an unreachable service is an error (not a hang) ...
            request = inference_pb2.GenerateRequest(
                model=TINY,
                messages=inference_pb2.ChatMessages(
                    messages=[inference_pb2.ChatMessage(role="user", content="question 0")]
                ),
                sampling=settings.to_pb(),
                tenant_id="acme",
            )
            with pytest.raises(ServiceUnavailableError):
                async with asyncio.timeout(20):
                    await generate_answer(stub, request, patience_s=0.5)
            # ... with the default patience the answers wait and come once it is back.
            answering = asyncio.create_task(
                generate_answers(stub, "acme", TINY, conversations, settings)
            )
            await asyncio.sleep(3)
            assert not answering.done()
            await stack.restart_inference()
            async with asyncio.timeout(60):
                assert await answering == before
