"""Batch API throughput: a batch of N chat requests (`/v1/batches`) against the same N
requests sent 32 at a time through `/v1/chat/completions`, on the same stack.

Both sides are greedy with the same prompts and `max_tokens`, on one stack (a child
process: nats-server, inference, the gateway with its batch worker). The concurrent side
is the official `openai` client with at most `--concurrency` requests in flight; the batch
side uploads the same requests as a file (purpose "batch"), creates the batch and polls it
every 0.2 s until it is completed, timing create → completed. Tokens/s = completion tokens
(from `usage`, in the replies or the output file) / wall time; the ratio batch/concurrent
(goal >= 1.0x). Rounds alternate the order (ABBA) so a drift in the machine's load cancels.

    .venv/bin/python bench/batch_vs_concurrent.py [--quick] [--lines 200] [--engine vllm]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import openai
from _common import base_model, loadavg, machine, prompt, say, show, tuneloop_stack

GOAL = 1.0
DONE = {"completed", "failed", "cancelled", "expired"}


def request(model: str, i: int, tokens: int) -> dict[str, Any]:
    return {
        "model": model,
        "messages": [{"role": "user", "content": prompt(i)}],
        "max_tokens": tokens,
        "temperature": 0,
    }


async def concurrent(
    client: openai.AsyncOpenAI, model: str, args: argparse.Namespace
) -> tuple[float, int]:
    """Seconds and completion tokens of the N requests, `concurrency` in flight."""
    gate = asyncio.Semaphore(args.concurrency)

    async def one(i: int) -> int:
        async with gate:
            reply = await client.chat.completions.create(**request(model, i, args.tokens))
            assert reply.usage is not None
            return reply.usage.completion_tokens

    start = time.perf_counter()
    tokens = await asyncio.gather(*(one(i) for i in range(args.lines)))
    return time.perf_counter() - start, sum(tokens)


async def batch(
    client: openai.AsyncOpenAI, model: str, args: argparse.Namespace
) -> tuple[float, int]:
    """Seconds from create to completed, and completion tokens, of the same requests."""
    lines = [
        {"custom_id": f"r{i}", "method": "POST", "url": "/v1/chat/completions",
         "body": request(model, i, args.tokens)}
        for i in range(args.lines)
    ]  # fmt: skip
    content = "\n".join(json.dumps(line) for line in lines).encode()
    upload = await client.files.create(file=("requests.jsonl", content), purpose="batch")
    start = time.perf_counter()
    created = await client.batches.create(
        input_file_id=upload.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    # Polling is how a client learns a batch is done: there is no event to wait on.
    while (done := await client.batches.retrieve(created.id)).status not in DONE:  # noqa: ASYNC110
        await asyncio.sleep(0.2)
    wall_s = time.perf_counter() - start
    counts = done.request_counts
    assert done.status == "completed" and counts and counts.completed == args.lines, done
    output = (await client.files.content(done.output_file_id or "")).text.splitlines()
    tokens = sum(json.loads(x)["response"]["body"]["usage"]["completion_tokens"] for x in output)
    return wall_s, tokens


async def run(args: argparse.Namespace) -> None:
    say(f"machine: {machine()}")
    settings: dict[str, Any] = {"engine": args.engine, "dtype": args.dtype}
    results: dict[str, list[tuple[float, int]]] = {"concurrent": [], "batch": []}
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        base = base_model(args.model, Path(tmp))
        async with tuneloop_stack(base, {}, timeout_s=900, **settings) as stack:
            say(f"stack ready in {stack.start_s:.0f} s; load average {loadavg()}")
            async with openai.AsyncOpenAI(
                base_url=f"{stack.url}/v1", api_key=stack.key, max_retries=0, timeout=3600
            ) as client:
                await client.chat.completions.create(**request(stack.model, 0, 4))  # warm-up
                for r in range(args.rounds):
                    order = ["concurrent", "batch"] if r % 2 == 0 else ["batch", "concurrent"]
                    for side in order:
                        measure = concurrent if side == "concurrent" else batch
                        seconds, tokens = await measure(client, stack.model, args)
                        results[side].append((seconds, tokens))
                        load = loadavg()
                        say(f"round {r + 1} {side}: {seconds:.1f} s, {tokens} tokens, load {load}")
    rates = {
        side: sum(t for _, t in runs) / sum(s for s, _ in runs) for side, runs in results.items()
    }
    ratio = rates["batch"] / rates["concurrent"]
    show(
        f"{args.lines} chat requests, {args.model}, {args.engine} engine, {args.dtype}, greedy, "
        f"max_tokens {args.tokens}; {args.rounds} round(s)",
        ["path", "seconds (mean)", "completion tokens/s", "ratio", "goal"],
        [
            [
                f"/v1/chat/completions, {args.concurrency} in flight",
                f"{sum(s for s, _ in results['concurrent']) / args.rounds:.1f}",
                f"{rates['concurrent']:.1f}",
                "1.0",
                "",
            ],
            [
                "/v1/batches (batch worker, TUNELOOP_GATEWAY_BATCH_CONCURRENCY)",
                f"{sum(s for s, _ in results['batch']) / args.rounds:.1f}",
                f"{rates['batch']:.1f}",
                f"{ratio:.2f}x",
                f">= {GOAL:.1f}x {'met' if ratio >= GOAL else 'MISSED'}",
            ],
        ],
    )
    say(f"load average after: {loadavg()}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny model, transformers, 20 lines")
    parser.add_argument("--model", choices=["smollm2", "tiny"], default="smollm2")
    parser.add_argument("--engine", choices=["transformers", "vllm"], default="vllm")
    parser.add_argument("--dtype", choices=["bfloat16", "float32"], default="bfloat16")
    parser.add_argument("--lines", type=int, default=200, help="requests on each side")
    parser.add_argument("--tokens", type=int, default=64, help="max_tokens per request")
    parser.add_argument("--concurrency", type=int, default=32, help="in flight, chat side")
    parser.add_argument("--rounds", type=int, default=2, help="ABBA rounds")
    parsed = parser.parse_args()
    if parsed.quick:
        parsed.model, parsed.engine, parsed.dtype, parsed.lines = (
            "tiny",
            "transformers",
            "float32",
            20,
        )
        parsed.rounds = 1
    return parsed


if __name__ == "__main__":
    asyncio.run(run(parse_args()))
