"""Latency the gateway adds to a streamed chat completion.

The same greedy chat request goes (a) straight to the inference service's gRPC `Generate`
and (b) through the gateway's `/v1/chat/completions` with `stream: true` over real HTTP
(httpx, SSE read to the end), at 1 and at 32 concurrent streams. The test stack runs the
gateway in the inference process (one event loop, one GIL with the generation thread), so
(c) a second gateway in a process of its own, as deployed, is measured too. Rounds of
(a), (b), (c) alternate and rotate which goes first, so drift hits all alike. The model is
the tiny local one on the transformers engine: generation is short, the gateway's cost shows.

Added latency = percentile(gateway) - percentile(direct); targets: p50 <= 1 ms, p99 <= 5 ms.

    .venv/bin/python bench/gateway_overhead.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
from _common import (
    Stack,
    base_model,
    cpu_seconds,
    gateway_process,
    loadavg,
    machine,
    percentile,
    say,
    show,
    tuneloop_stack,
)

from tuneloop.inference.v1 import inference_pb2, inference_pb2_grpc
from tuneloop_core.grpc.client import open_channel

TARGET_P50_MS = 1.0
TARGET_P99_MS = 5.0
USER_TURN = "Hello world, hello model."

HEADERS = ["conc.", "path", "requests", "p50", "p99", "1st token p50"]
HEADERS += ["CPU/req stack", "CPU/req 2nd gateway"]
HEADERS += ["added p50", "target", "added p99", "target"]

Send = Callable[[], Awaitable[tuple[float, float]]]  # (latency, time to first token) s


def direct_sender(stub: inference_pb2_grpc.InferenceServiceStub, stack: Stack, tokens: int) -> Send:
    messages = inference_pb2.ChatMessages(
        messages=[inference_pb2.ChatMessage(role="user", content=USER_TURN)]
    )
    sampling = inference_pb2.SamplingParams(max_tokens=tokens, temperature=0)

    async def send() -> float:
        request = inference_pb2.GenerateRequest(
            model=stack.model,
            messages=messages,
            sampling=sampling,
            request_id=uuid.uuid4().hex,
            tenant_id=stack.tenant_id,
        )
        start = time.perf_counter()
        first = 0.0
        finished = False
        async for chunk in stub.Generate(request):
            first = first or time.perf_counter()
            finished = bool(chunk.finish_reason)
        end = time.perf_counter()
        assert finished, "stream ended without a finish reason"
        return end - start, first - start

    return send


def gateway_sender(http: httpx.AsyncClient, stack: Stack, tokens: int) -> Send:
    body = {
        "model": stack.model,
        "messages": [{"role": "user", "content": USER_TURN}],
        "max_tokens": tokens,
        "temperature": 0,
        "stream": True,
    }

    async def send() -> float:
        start = time.perf_counter()
        first = 0.0
        done = False
        async with http.stream("POST", "/v1/chat/completions", json=body) as response:
            response.raise_for_status()
            async for line in response.aiter_lines():
                # The gateway sends its first event once the first token is there.
                first = first or time.perf_counter()
                done = done or line == "data: [DONE]"
        end = time.perf_counter()
        assert done, "SSE stream ended without [DONE]"
        return end - start, first - start

    return send


async def burst(send: Send, concurrency: int, count: int) -> list[tuple[float, float]]:
    """`count` requests, `concurrency` in flight at any time."""
    latencies: list[tuple[float, float]] = []
    todo = iter(range(count))

    async def worker() -> None:
        for _ in todo:
            latencies.append(await send())

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


async def completion_tokens(
    stub: inference_pb2_grpc.InferenceServiceStub, stack: Stack, tokens: int
) -> int:
    request = inference_pb2.GenerateRequest(
        model=stack.model,
        messages=inference_pb2.ChatMessages(
            messages=[inference_pb2.ChatMessage(role="user", content=USER_TURN)]
        ),
        sampling=inference_pb2.SamplingParams(max_tokens=tokens, temperature=0),
        tenant_id=stack.tenant_id,
    )
    usage = [r.usage.completion_tokens async for r in stub.Generate(request) if r.finish_reason]
    return usage[-1]


def http_client(url: str, key: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=url,
        headers={"Authorization": f"Bearer {key}"},
        timeout=120,
        limits=httpx.Limits(max_connections=64, max_keepalive_connections=64),
    )


def verdict(added_ms: float, target_ms: float) -> str:
    return f"{'ok' if added_ms <= target_ms else 'MISS'} (<= {target_ms:g})"


async def measure(
    paths: dict[str, Send], pids: list[int], args: argparse.Namespace
) -> list[list[object]]:
    """A table row per concurrency and path. CPU = CPU time the stack's process (inference,
    its gateway) and the second gateway's process used in that path's rounds, per request;
    the stack's includes torch's worker threads, which spin while they wait for work."""
    rows: list[list[object]] = []
    for concurrency in args.concurrency:
        count = max(concurrency, args.requests)
        for send in paths.values():  # warm-up: connections, first batches
            await burst(send, concurrency, count)
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name in paths}
        cpu_s = {name: [0.0] * len(pids) for name in paths}
        names = list(paths)
        for r in range(args.rounds):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                before = [cpu_seconds(pid) for pid in pids]
                samples[name] += await burst(paths[name], concurrency, count)
                for i, pid in enumerate(pids):
                    cpu_s[name][i] += cpu_seconds(pid) - before[i]
        direct: tuple[float, float] | None = None
        for name, pairs in samples.items():
            total = [1000 * t for t, _ in pairs]
            p50, p99 = percentile(total, 50), percentile(total, 99)
            first = percentile([1000 * f for _, f in pairs], 50)
            row: list[object] = [concurrency, name, len(pairs), f"{p50:.2f}", f"{p99:.2f}"]
            row += [f"{first:.2f}", *(f"{1000 * c / len(pairs):.1f}" for c in cpu_s[name])]
            if direct is None:
                direct = (p50, p99)
                row += ["", "", "", ""]
            else:
                added50, added99 = p50 - direct[0], p99 - direct[1]
                row += [f"{added50:+.2f}", verdict(added50, TARGET_P50_MS)]
                row += [f"{added99:+.2f}", verdict(added99, TARGET_P99_MS)]
            rows.append(row)
    return rows


async def run(args: argparse.Namespace) -> None:
    say(f"machine: {machine()}")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-gw-") as tmp:
        base = base_model("tiny", Path(tmp))
        settings: dict[str, object] = {"engine": "transformers", "dtype": "float32"}
        if args.max_batch_size:
            settings["max_batch_size"] = args.max_batch_size
        async with (
            tuneloop_stack(base, {}, **settings) as stack,
            gateway_process(stack) as (own_url, own_pid),
            open_channel(stack.grpc_addr) as channel,
            http_client(stack.url, stack.key) as shared_http,
            http_client(own_url, stack.key) as own_http,
        ):
            stub = inference_pb2_grpc.InferenceServiceStub(channel)
            generated = await completion_tokens(stub, stack, args.tokens)
            say(f"stack ready in {stack.start_s:.1f} s; {generated} tokens per request")
            paths = {
                "direct gRPC": direct_sender(stub, stack, args.tokens),
                "gateway, in inference process": gateway_sender(shared_http, stack, args.tokens),
                "gateway, own process": gateway_sender(own_http, stack, args.tokens),
            }
            rows = await measure(paths, [stack.pid, own_pid], args)
    show(
        f"request latency in ms, tiny model, transformers engine, {args.tokens} tokens, "
        "streaming; added = gateway - direct",
        HEADERS,
        rows,
    )
    say(f"wall time {time.perf_counter() - started:.0f} s; load average after: {loadavg()}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds")
    parser.add_argument("--tokens", type=int, default=16, help="max_tokens per request")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--rounds", type=int, default=9, help="rounds per path, rotating order")
    parser.add_argument("--requests", type=int, default=64, help="per round and path (>= c)")
    parser.add_argument("--max-batch-size", type=int, help="engine batch (default: service's)")
    parsed = parser.parse_args()
    if parsed.quick:
        parsed.rounds, parsed.requests = 1, 8
    return parsed


if __name__ == "__main__":
    asyncio.run(run(parse_args()))
