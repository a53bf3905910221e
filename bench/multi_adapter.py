"""Throughput with many LoRA adapters in flight vs the base model alone.

32 concurrent greedy chat completions spread round-robin over 8 random r16 LoRA adapters
(all linear layers), against the same 32 requests all on the base model; tokens/s of
each and adapters/base (target >= 0.8). Each engine (vLLM, transformers) gets a stack of
its own, one at a time, on SmolLM2-135M-Instruct; requests go through the gateway with the
official `openai` client. Base and adapter bursts alternate to cancel drift. Tokens are the
completion tokens `usage` reports (there is no ignore_eos, so a burst may stop early).

    .venv/bin/python bench/multi_adapter.py [--quick] [--engines vllm transformers]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import openai
from _common import (
    ChatLoad,
    base_model,
    build_adapters,
    chat_load,
    loadavg,
    machine,
    say,
    show,
    tuneloop_stack,
)

TARGET_RATIO = 0.8


def engine_settings(engine: str, args: argparse.Namespace) -> dict[str, object]:
    settings: dict[str, object] = {"engine": engine, "dtype": args.dtype}
    if engine == "vllm":
        settings.update(max_model_len=args.max_model_len, max_lora_rank=args.max_lora_rank)
    if engine == "transformers" and args.max_batch_size:
        settings["max_batch_size"] = args.max_batch_size
    return settings


async def measure(
    engine: str, base: Path, adapters: dict[str, Path], args: argparse.Namespace
) -> list[object]:
    settings = engine_settings(engine, args)
    say(f"{engine}: starting the stack ({settings}), load {loadavg()}")
    async with tuneloop_stack(base, adapters, **settings) as stack:
        say(f"{engine}: ready in {stack.start_s:.0f} s")
        client = openai.AsyncOpenAI(
            base_url=f"{stack.url}/v1", api_key=stack.key, max_retries=0, timeout=1800
        )
        names = list(adapters)
        on_base = [stack.model] * args.requests
        on_adapters = [names[i % len(names)] for i in range(args.requests)]
        await chat_load(client, [stack.model, *names], 8)  # warm-up: every adapter once
        totals: dict[str, list[ChatLoad]] = {"base": [], "adapters": []}
        for r in range(args.rounds):
            order = ["base", "adapters"] if r % 2 == 0 else ["adapters", "base"]
            for kind in order:
                models = on_base if kind == "base" else on_adapters
                load = await chat_load(client, models, args.tokens)
                say(f"{engine} round {r} {kind}: {load.tokens_per_s:.1f} tokens/s")
                totals[kind].append(load)
        await client.close()
    base_tps, adapter_tps = (
        sum(x.completion_tokens for x in totals[k]) / sum(x.wall_s for x in totals[k])
        for k in ("base", "adapters")
    )
    differing = sum(
        a != b for a, b in zip(totals["base"][-1].texts, totals["adapters"][-1].texts, strict=True)
    )
    ratio = adapter_tps / base_tps
    return [
        engine,
        f"{base_tps:.1f}",
        f"{adapter_tps:.1f}",
        f"{ratio:.3f}",
        f"{'ok' if ratio >= TARGET_RATIO else 'MISS'} (>= {TARGET_RATIO})",
        f"{totals['base'][-1].completion_tokens}/{totals['adapters'][-1].completion_tokens}",
        f"{differing}/{args.requests}",
        f"{stack.start_s:.0f}",
    ]


async def run(args: argparse.Namespace) -> None:
    say(f"machine: {machine()}")
    started = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-multi-") as tmp:
        base = base_model(args.model, Path(tmp))
        adapters = build_adapters(base, Path(tmp), args.adapters, args.rank)
        say(f"built {len(adapters)} r{args.rank} adapters on {base.name}")
        for engine in args.engines:
            rows.append(await measure(engine, base, adapters, args))
    show(
        f"{args.requests} concurrent chat completions, {args.model}, {args.dtype}, greedy, "
        f"max_tokens {args.tokens}, {args.rounds} rounds; tokens/s = completion tokens / wall",
        [
            "engine",
            "base tok/s",
            f"{args.adapters} adapters tok/s",
            "ratio",
            "target",
            "tokens/burst base/adapters",
            "outputs != base",
            "start s",
        ],
        rows,
    )
    say(f"wall time {time.perf_counter() - started:.0f} s; load average after: {loadavg()}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny model, transformers, small")
    parser.add_argument("--engines", nargs="+", choices=["vllm", "transformers"])
    parser.add_argument("--model", choices=["smollm2", "tiny"], default="smollm2")
    parser.add_argument("--dtype", choices=["bfloat16", "float32"], default="bfloat16")
    parser.add_argument("--requests", type=int, default=32, help="concurrent requests per burst")
    parser.add_argument("--adapters", type=int, default=8)
    parser.add_argument("--rank", type=int, default=16, help="LoRA rank of the adapters")
    parser.add_argument("--tokens", type=int, default=64, help="max_tokens per request")
    parser.add_argument("--rounds", type=int, default=2, help="bursts per kind, alternating")
    parser.add_argument("--max-model-len", type=int, default=2048, help="vLLM context cap")
    parser.add_argument("--max-lora-rank", type=int, default=16, help="vLLM (service default: 16)")
    parser.add_argument("--max-batch-size", type=int, help="transformers (default: service's)")
    parsed = parser.parse_args()
    if parsed.quick:
        parsed.model, parsed.requests, parsed.adapters, parsed.tokens, parsed.rounds = (
            "tiny",
            8,
            4,
            16,
            1,
        )
        parsed.engines = parsed.engines or ["transformers"]
        parsed.max_model_len = 256  # the tiny model's context
    parsed.engines = parsed.engines or ["vllm", "transformers"]
    return parsed


if __name__ == "__main__":
    asyncio.run(run(parse_args()))
