"""Answers from the inference service for many conversations at once.

Every conversation is its own `Generate` call; a semaphore keeps `concurrency` of them in
flight so the engine (vLLM or transformers) batches them, which is where the throughput
over a one-by-one loop comes from.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from nats.js import JetStreamContext
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_exponential

from tuneloop.gateway.v1 import gateway_pb2_grpc
from tuneloop.inference.v1 import inference_pb2, inference_pb2_grpc
from tuneloop_core.artifacts import ArtifactStore
from tuneloop_core.bus.jobrun import JobWorker
from tuneloop_core.errors import InvalidRequestError, ServiceUnavailableError
from tuneloop_core.grpc.client import stream

Message = inference_pb2.ChatMessage | Mapping[str, str]
ANSWER_PATIENCE_S = 120.0  # how long one answer waits for an unreachable inference service


@dataclass(frozen=True)
class GenerationSettings:
    """Sampling of an evaluation: greedy by default so runs are reproducible."""

    max_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0

    def to_pb(self) -> inference_pb2.SamplingParams:
        return inference_pb2.SamplingParams(
            max_tokens=self.max_tokens, temperature=self.temperature, top_p=self.top_p
        )


def _messages(conversation: Sequence[Message]) -> list[inference_pb2.ChatMessage]:
    return [
        m
        if isinstance(m, inference_pb2.ChatMessage)
        else inference_pb2.ChatMessage(role=m["role"], content=m["content"])
        for m in conversation
    ]


@dataclass(frozen=True)
class Completion:
    """One whole answer with how it ended and what it cost."""

    text: str
    finish_reason: str  # "stop", "length", …
    prompt_tokens: int
    completion_tokens: int


async def generate_completion(
    stub: inference_pb2_grpc.InferenceServiceAsyncStub,
    request: inference_pb2.GenerateRequest,
    patience_s: float = ANSWER_PATIENCE_S,
) -> Completion:
    """The whole answer to one request (the stream's deltas joined). While the inference
    service is unreachable (restarting), the answer is asked for again, from the start, for
    up to `patience_s`: an evaluation outlives a restart instead of failing. Greedy answers
    come out the same; a sampled one is a new sample."""
    retrying = AsyncRetrying(
        retry=retry_if_exception_type(ServiceUnavailableError),
        stop=stop_after_delay(patience_s),
        wait=wait_exponential(multiplier=0.2, max=2.0),
        reraise=True,
    )
    async for attempt in retrying:
        with attempt:
            replies = [reply async for reply in stream(stub.Generate, request)]
    last = replies[-1] if replies else inference_pb2.GenerateResponse()
    reason = inference_pb2.FinishReason.Name(last.finish_reason)
    return Completion(
        text="".join(reply.text_delta for reply in replies),
        finish_reason=reason.removeprefix("FINISH_REASON_").lower(),
        prompt_tokens=last.usage.prompt_tokens,
        completion_tokens=last.usage.completion_tokens,
    )


async def generate_answer(
    stub: inference_pb2_grpc.InferenceServiceAsyncStub,
    request: inference_pb2.GenerateRequest,
    patience_s: float = ANSWER_PATIENCE_S,
) -> str:
    """The text of `generate_completion`."""
    return (await generate_completion(stub, request, patience_s)).text


async def generate_answers(
    stub: inference_pb2_grpc.InferenceServiceAsyncStub,
    tenant_id: str,
    model: str,
    conversations: Sequence[Sequence[Message]],
    settings: GenerationSettings,
    concurrency: int = 16,
    on_invalid: Callable[[int, InvalidRequestError], str] | None = None,
    constraint: inference_pb2.OutputConstraint | None = None,
) -> list[str]:
    """`model`'s answer to each conversation, in order; the first failure is raised.

    With `on_invalid`, a request the engine refuses (e.g. a prompt longer than the model's
    context) does not end the batch: its answer is `on_invalid(index, error)` instead.
    With `constraint`, every answer follows that grammar (constrained decoding).
    """
    gate = asyncio.Semaphore(max(1, concurrency))
    sampling = settings.to_pb()
    batch = uuid.uuid4().hex[:16]

    async def one(index: int, conversation: Sequence[Message]) -> str:
        request = inference_pb2.GenerateRequest(
            model=model,
            messages=inference_pb2.ChatMessages(messages=_messages(conversation)),
            sampling=sampling,
            request_id=f"eval-{batch}-{index}",
            tenant_id=tenant_id,
            constraint=constraint,
        )
        async with gate:
            try:
                return await generate_answer(stub, request)
            except InvalidRequestError as exc:
                if on_invalid is None:
                    raise
                return on_invalid(index, exc)

    tasks = [asyncio.create_task(one(i, c)) for i, c in enumerate(conversations)]
    try:
        return list(await asyncio.gather(*tasks))
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class AnsweringWorker(JobWorker):
    """A job worker of the evaluator: its models answer through the inference service, and
    what it produces goes to the artifact store."""

    def __init__(
        self,
        store: ArtifactStore,
        js: JetStreamContext,
        gateway: gateway_pb2_grpc.GatewayServiceAsyncStub,
        inference: inference_pb2_grpc.InferenceServiceAsyncStub,
        control_poll_s: float = 2.0,
    ):
        super().__init__(js, gateway, control_poll_s)
        self.store = store
        self.inference = inference
