"""Tuneloop's gateway on the vLLM engine vs vLLM's own OpenAI server, same load.

32 concurrent greedy chat completions (64 tokens) on SmolLM2-135M-Instruct's base and on
one random r16 LoRA adapter, sent with the official `openai` client to (1) vLLM's server
(`python -m vllm.entrypoints.openai.api_server ... --enable-lora`) and (2) Tuneloop's stack
(nats-server + inference on the vLLM engine + gateway, in one child process), with the same
dtype, max model length, max LoRA rank and LoRA slots. One server at a time (each vLLM
instance holds ~3 GiB), in the order vLLM, Tuneloop, Tuneloop, vLLM (--cycles 2) so that
drift in the machine's load cancels; base and adapter bursts alternate within a server.
End-to-end tokens/s = completion tokens / wall time of the bursts; target Tuneloop/vLLM
>= 0.9. With --stream the replies are streamed (SSE) instead of returned whole.

    .venv/bin/python bench/vs_vllm_server.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import openai
from _common import (
    ChatLoad,
    base_model,
    build_adapters,
    chat_load,
    child_process,
    free_port,
    loadavg,
    machine,
    say,
    show,
    tuneloop_stack,
    wait_until,
)

TARGET_RATIO = 0.9
ADAPTER = "a0"
MAX_LORAS = 8  # Tuneloop's default (vLLM's is 1): the same LoRA slots on both


@contextlib.asynccontextmanager
async def vllm_server(base: Path, adapter: Path, args: argparse.Namespace) -> AsyncIterator[str]:
    """vLLM's OpenAI server as a child process; yields its /v1 URL once /health answers."""
    port = free_port()
    command = [
        *(sys.executable, "-m", "vllm.entrypoints.openai.api_server"),
        *("--model", str(base), "--served-model-name", base.name),
        *("--enable-lora", "--lora-modules", f"{ADAPTER}={adapter}"),
        *("--max-lora-rank", str(args.max_lora_rank), "--max-loras", str(MAX_LORAS)),
        *("--dtype", args.dtype, "--max-model-len", str(args.max_model_len)),
        *("--host", "127.0.0.1", "--port", str(port), "--disable-log-stats"),
    ]
    url = f"http://127.0.0.1:{port}"
    async with child_process(command, polite_stdin=False) as (proc, _), httpx.AsyncClient() as http:

        async def healthy() -> bool | None:
            with contextlib.suppress(httpx.TransportError):
                if (await http.get(f"{url}/health", timeout=2)).status_code == 200:
                    return True
            return None

        await wait_until(healthy, proc, 900)
        yield f"{url}/v1"


@contextlib.asynccontextmanager
async def tuneloop_server(
    base: Path, adapter: Path, args: argparse.Namespace
) -> AsyncIterator[tuple[str, str]]:
    """Tuneloop's stack on the vLLM engine; yields its /v1 URL and an API key."""
    settings = {
        "engine": "vllm",
        "dtype": args.dtype,
        "max_model_len": args.max_model_len,
        "max_lora_rank": args.max_lora_rank,
        "max_loras": MAX_LORAS,
    }
    async with tuneloop_stack(base, {ADAPTER: adapter}, timeout_s=900, **settings) as stack:
        yield f"{stack.url}/v1", stack.key


async def drive(
    name: str, url: str, key: str, model: str, args: argparse.Namespace
) -> dict[str, list[ChatLoad]]:
    """Warm up, then alternate base and adapter bursts; totals per kind."""
    client = openai.AsyncOpenAI(base_url=url, api_key=key, max_retries=0, timeout=1800)
    loads: dict[str, list[ChatLoad]] = {"base": [], "adapter": []}
    try:
        await chat_load(client, [model, ADAPTER] * 2, 8)  # warm-up
        for r in range(args.rounds):
            for kind in ["base", "adapter"] if r % 2 == 0 else ["adapter", "base"]:
                served = model if kind == "base" else ADAPTER
                models = [served] * args.requests
                load = await chat_load(client, models, args.tokens, stream=args.stream)
                say(f"{name} round {r} {kind}: {load.tokens_per_s:.1f} tokens/s")
                loads[kind].append(load)
    finally:
        await client.close()
    return loads


def tokens_per_s(loads: list[ChatLoad]) -> float:
    return sum(x.completion_tokens for x in loads) / sum(x.wall_s for x in loads)


async def run(args: argparse.Namespace) -> None:
    say(f"machine: {machine()}")
    started = time.perf_counter()
    results: dict[str, dict[str, list[ChatLoad]]] = {}
    start_s: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-vs-vllm-") as tmp:
        base = base_model(args.model, Path(tmp))
        adapter = build_adapters(base, Path(tmp), 1, args.rank)[ADAPTER]
        order = [n for c in range(args.cycles) for n in args.order[:: 1 if c % 2 == 0 else -1]]
        for name in order:
            say(f"{name}: starting, load {loadavg()}")
            t0 = time.perf_counter()
            if name == "vllm":
                async with vllm_server(base, adapter, args) as url:
                    start_s.setdefault(name, []).append(time.perf_counter() - t0)
                    loads = await drive(name, url, "unused", base.name, args)
            else:
                async with tuneloop_server(base, adapter, args) as (url, key):
                    start_s.setdefault(name, []).append(time.perf_counter() - t0)
                    loads = await drive(name, url, key, base.name, args)
            for kind, runs in loads.items():
                results.setdefault(name, {}).setdefault(kind, []).extend(runs)
            say(f"{name}: stopped, load {loadavg()}")
    rows = []
    for kind in ("base", "adapter"):
        tl, vl = tokens_per_s(results["tuneloop"][kind]), tokens_per_s(results["vllm"][kind])
        ratio = tl / vl
        same = sum(
            a == b
            for a, b in zip(
                results["tuneloop"][kind][-1].texts, results["vllm"][kind][-1].texts, strict=True
            )
        )
        prompt_tokens = [results[s][kind][-1].prompt_tokens for s in ("tuneloop", "vllm")]
        rows.append(
            [
                kind,
                f"{vl:.1f}",
                f"{tl:.1f}",
                f"{ratio:.3f}",
                f"{'ok' if ratio >= TARGET_RATIO else 'MISS'} (>= {TARGET_RATIO})",
                f"{same}/{args.requests}",
                "/".join(str(p) for p in prompt_tokens),
            ]
        )
    show(
        f"{args.requests} concurrent chat completions, {args.model}, {args.dtype}, greedy, "
        f"max_tokens {args.tokens}, {'streamed, ' if args.stream else ''}{args.cycles} cycles "
        f"x {args.rounds} rounds, max_model_len {args.max_model_len}",
        [
            "model",
            "vLLM server tok/s",
            "Tuneloop tok/s",
            "Tuneloop/vLLM",
            "target",
            "identical outputs",
            "prompt tokens TL/vLLM",
        ],
        rows,
    )
    starts = (f"{k} {', '.join(f'{s:.0f}' for s in v)} s" for k, v in start_s.items())
    say("start to ready: " + "; ".join(starts))
    say(f"wall time {time.perf_counter() - started:.0f} s; load average after: {loadavg()}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny model, 8 short requests")
    parser.add_argument("--model", choices=["smollm2", "tiny"], default="smollm2")
    parser.add_argument("--dtype", choices=["bfloat16", "float32"], default="bfloat16")
    parser.add_argument("--requests", type=int, default=32, help="concurrent requests per burst")
    parser.add_argument("--tokens", type=int, default=64, help="max_tokens per request")
    parser.add_argument("--rounds", type=int, default=2, help="bursts per model, alternating")
    parser.add_argument("--rank", type=int, default=16, help="LoRA rank of the adapter")
    parser.add_argument("--max-lora-rank", type=int, default=16)
    parser.add_argument("--max-model-len", type=int, default=2048)
    parser.add_argument("--stream", action="store_true", help="stream the replies (SSE)")
    parser.add_argument("--cycles", type=int, default=2, help="starts of each server (ABBA)")
    parser.add_argument(
        "--order", nargs=2, choices=["vllm", "tuneloop"], default=["vllm", "tuneloop"]
    )
    parsed = parser.parse_args()
    if parsed.quick:
        parsed.model, parsed.requests, parsed.tokens, parsed.rounds = "tiny", 8, 16, 1
        parsed.cycles = 1
        parsed.max_model_len = 256  # the tiny model's context
    return parsed


if __name__ == "__main__":
    asyncio.run(run(parse_args()))
