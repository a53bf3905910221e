"""`generate_answers` against the real inference service on a tiny model: answers come
back in order, concurrency does not change greedy output, a bad model is a clear error."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from services.evaluator.generation import GenerationSettings, generate_answers
from support.stack import TINY, ApiStack, api_stack
from tuneloop.inference.v1 import inference_pb2, inference_pb2_grpc
from tuneloop_core.errors import NotFoundError
from tuneloop_core.grpc.client import open_channel

in_module_loop = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ApiStack]:
    async with api_stack(tmp_path_factory.mktemp("evalgen")) as running_stack:
        yield running_stack


@in_module_loop
async def test_answers_in_order_and_batched_equals_one_by_one(stack: ApiStack) -> None:
    assert stack.inference.grpc is not None
    async with open_channel(f"127.0.0.1:{stack.inference.grpc.port}") as channel:
        stub = inference_pb2_grpc.InferenceServiceStub(channel)
        conversations = [[{"role": "user", "content": f"question {i}"}] for i in range(6)]
        settings = GenerationSettings(max_tokens=6)
        batched = await generate_answers(stub, "acme", TINY, conversations, settings, 6)
        one_by_one = await generate_answers(stub, "acme", TINY, conversations, settings, 1)
        assert len(batched) == 6 and all(isinstance(a, str) for a in batched)
        assert batched == one_by_one  # greedy: batching must not change the answers
        # ChatMessage protobufs are accepted too (the comparisons worker passes those).
        pb = [[inference_pb2.ChatMessage(role="user", content="question 0")]]
        assert await generate_answers(stub, "acme", TINY, pb, settings) == batched[:1]
        with pytest.raises(NotFoundError):
            await generate_answers(stub, "acme", "no-such-model", conversations[:1], settings)
