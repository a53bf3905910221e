"""Evaluation throughput: Tuneloop's batched path vs one-by-one `generate()`.

The same 200 questions (the 公文 held-out set, cycled) are answered greedily by the same
model twice: by Tuneloop's evaluator path (`services.evaluator.generation.generate_answers`,
concurrent `Generate` calls to the inference service, which batches them), and by the loop
simple scripts use (`model.generate()` per example with transformers). Samples/s of each
and the ratio (target >= 3x). Scoring costs the same on both sides and is left out. The
baseline runs first, alone; the stack (one child process) after it, so they never share
the 2 cores.

    .venv/bin/python bench/evaluation_throughput.py [--quick] [--model smollm2|tiny]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

from _common import ROOT, base_model, loadavg, machine, say, show, tuneloop_stack

from services.evaluator.generation import GenerationSettings, generate_answers
from tuneloop.inference.v1 import inference_pb2_grpc
from tuneloop_core.grpc.client import open_channel

TARGET = 3.0


def questions(count: int) -> list[str]:
    heldout = json.loads((ROOT / "samples/gongwen/heldout.json").read_text())
    return [heldout[i % len(heldout)]["instruction"] for i in range(count)]


def one_by_one(base: Path, prompts: list[str], tokens: int, dtype: str) -> tuple[float, int]:
    """Seconds and generated tokens of a plain per-example generate() loop."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(base)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=getattr(torch, dtype))
    model.eval()
    start, generated = time.perf_counter(), 0
    for text in prompts:
        ids = tokenizer.apply_chat_template(
            [{"role": "user", "content": text}],
            add_generation_prompt=True,
            return_tensors="pt",
            return_dict=True,
        )
        with torch.inference_mode():
            out = model.generate(**ids, max_new_tokens=tokens, do_sample=False)
        generated += out.shape[1] - ids["input_ids"].shape[1]
    return time.perf_counter() - start, generated


async def batched(base: Path, prompts: list[str], args: argparse.Namespace) -> float:
    settings = {"engine": args.engine, "dtype": args.dtype}
    if args.engine == "transformers":
        settings["max_batch_size"] = args.batch
    conversations = [[{"role": "user", "content": p}] for p in prompts]
    gen = GenerationSettings(max_tokens=args.tokens)
    async with (
        tuneloop_stack(base, {}, **settings) as stack,
        open_channel(stack.grpc_addr) as channel,
    ):
        stub = inference_pb2_grpc.InferenceServiceStub(channel)
        await generate_answers(stub, stack.tenant_id, stack.model, conversations[:2], gen)
        start = time.perf_counter()
        await generate_answers(
            stub, stack.tenant_id, stack.model, conversations, gen, concurrency=args.batch
        )
        return time.perf_counter() - start


async def run(args: argparse.Namespace) -> None:
    say(f"machine: {machine()}")
    prompts = questions(args.examples)
    with tempfile.TemporaryDirectory(prefix="bench-eval-") as tmp:
        base = base_model(args.model, Path(tmp))
        loop_s, loop_tokens = await asyncio.to_thread(
            one_by_one, base, prompts, args.tokens, args.dtype
        )
        say(f"one-by-one: {loop_s:.1f} s, {loop_tokens} tokens; load average {loadavg()}")
        tuneloop_s = await batched(base, prompts, args)
    ratio = loop_s / tuneloop_s
    show(
        f"{args.examples} examples, {args.model}, {args.dtype}, greedy, max_tokens "
        f"{args.tokens}; Tuneloop {args.engine} engine, {args.batch} in flight",
        ["path", "seconds", "samples/s", "ratio", "target"],
        [
            ["one-by-one generate()", f"{loop_s:.1f}", f"{args.examples / loop_s:.2f}", "1.0", ""],
            [
                "Tuneloop batched",
                f"{tuneloop_s:.1f}",
                f"{args.examples / tuneloop_s:.2f}",
                f"{ratio:.1f}x",
                f">= {TARGET:.0f}x {'met' if ratio >= TARGET else 'MISSED'}",
            ],
        ],
    )
    say(f"load average after: {loadavg()}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny model, 40 examples")
    parser.add_argument("--model", choices=["smollm2", "tiny"], default="smollm2")
    parser.add_argument("--engine", choices=["transformers", "vllm"], default="transformers")
    parser.add_argument("--dtype", choices=["bfloat16", "float32"], default="bfloat16")
    parser.add_argument("--examples", type=int, default=200)
    parser.add_argument("--tokens", type=int, default=64, help="max_tokens per answer")
    parser.add_argument("--batch", type=int, default=32, help="requests in flight")
    parsed = parser.parse_args()
    if parsed.quick:
        parsed.model, parsed.examples, parsed.dtype = "tiny", 40, "float32"
    return parsed


if __name__ == "__main__":
    asyncio.run(run(parse_args()))
