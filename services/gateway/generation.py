"""Generation through the inference service, shared by chat and completions: building the
request, running n choices, merging their streams. No OpenAI shapes here."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from services.gateway.clients import ServiceClients
from services.gateway.logprobs import TextAligner, TokenLogprob, from_pb
from tuneloop.inference.v1 import inference_pb2
from tuneloop_core.errors import InvalidRequestError
from tuneloop_core.grpc.client import stream

FINISH_REASONS = {
    inference_pb2.FINISH_REASON_STOP: "stop",
    inference_pb2.FINISH_REASON_LENGTH: "length",
    inference_pb2.FINISH_REASON_ABORT: "stop",
}
MAX_CHOICES = 16


@dataclass
class Sampling:
    """Sampling settings as the public API gives them (None = not given)."""

    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int = 0  # 0 disables top-k
    stop: list[str] = field(default_factory=list)
    seed: int | None = None
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    logprobs: int | None = None  # each generated token's, with this many alternatives
    prompt_logprobs: int | None = None  # each prompt token's, with this many alternatives

    def to_pb(self, choice: int) -> inference_pb2.SamplingParams:
        params = inference_pb2.SamplingParams(
            max_tokens=self.max_tokens or 0,
            top_k=self.top_k,
            stop=self.stop,
            presence_penalty=self.presence_penalty,
            frequency_penalty=self.frequency_penalty,
        )
        if self.temperature is not None:
            params.temperature = self.temperature
        if self.top_p is not None:
            params.top_p = self.top_p
        if self.seed is not None:
            params.seed = self.seed + choice  # n seeded choices still differ from each other
        if self.logprobs is not None:
            params.logprobs = self.logprobs
        if self.prompt_logprobs is not None:
            params.prompt_logprobs = self.prompt_logprobs
        return params


@dataclass
class Delta:
    """A piece of one choice's output; the last one has finish_reason and token counts.
    `logprobs` are those of the tokens that make up `text`, when asked for (see
    services/gateway/logprobs.py); `prompt_logprobs` come on a choice's first delta."""

    index: int
    text: str
    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    logprobs: list[TokenLogprob] = field(default_factory=list)
    prompt_logprobs: list[TokenLogprob] = field(default_factory=list)


def new_request_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:24]}"


def check_choices(n: int) -> None:
    if not 1 <= n <= MAX_CHOICES:
        raise InvalidRequestError(f"n must be between 1 and {MAX_CHOICES}", param="n")


async def _one_choice(
    clients: ServiceClients, request: inference_pb2.GenerateRequest, index: int
) -> AsyncIterator[Delta]:
    aligner = TextAligner()
    async for reply in stream(clients.inference.Generate, request):
        finish = FINISH_REASONS.get(reply.finish_reason)
        yield Delta(
            index=index,
            text=reply.text_delta,
            finish_reason=finish,
            prompt_tokens=reply.usage.prompt_tokens,
            completion_tokens=reply.usage.completion_tokens,
            logprobs=aligner.feed(reply.text_delta, from_pb(reply.logprobs), finish is not None),
            prompt_logprobs=from_pb(reply.prompt_logprobs),
        )


async def generate_choices(
    clients: ServiceClients,
    prompts: list[inference_pb2.GenerateRequest],
    sampling: Sampling,
    n: int,
) -> AsyncIterator[Delta]:
    """Deltas of n choices per prompt, interleaved as they arrive (choice index =
    prompt index × n + choice); an error in any choice ends them all."""
    requests = []
    for prompt_index, base in enumerate(prompts):
        for choice in range(n):
            request = inference_pb2.GenerateRequest()
            request.CopyFrom(base)
            request.request_id = f"{base.request_id}-{prompt_index}-{choice}"
            request.sampling.CopyFrom(sampling.to_pb(choice))
            requests.append(request)
    n = len(requests)
    if n == 1:
        async for delta in _one_choice(clients, requests[0], 0):
            yield delta
        return
    queue: asyncio.Queue[Delta | BaseException | None] = asyncio.Queue()

    async def pump(index: int) -> None:
        try:
            async for delta in _one_choice(clients, requests[index], index):
                await queue.put(delta)
        except BaseException as exc:  # surfaced to the consumer below
            await queue.put(exc)
            return
        await queue.put(None)

    tasks = [asyncio.create_task(pump(i)) for i in range(n)]
    try:
        remaining = n
        while remaining:
            item = await queue.get()
            if item is None:
                remaining -= 1
            elif isinstance(item, BaseException):
                raise item
            else:
                yield item
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
