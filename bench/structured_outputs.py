"""Structured outputs: tokens/s held to a JSON schema vs free text, same prompts, same engine.

8 concurrent greedy chat requests on SmolLM2-135M-Instruct, sent straight to the engine
objects (no gateway, no gRPC): free vs constrained to a JSON schema (six entries of three
bounded strings: longer than max_tokens, so both arms generate exactly max_tokens per
request), the arms alternating over several rounds. Tokens/s = completion tokens / wall
time of the burst; target constrained/free >= 0.8. The grammar is compiled in a warm-up
burst; its cost is reported apart: xgrammar's compile time on the model's vocabulary (first
vs cached, as the transformers and llama.cpp engines compile) and, per engine, the time to
the first token of one request with a grammar never seen before, the same grammar again,
and none.

    .venv/bin/python bench/structured_outputs.py [--quick] [--engine transformers vllm]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import itertools
import json
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import ROOT, TOPICS, loadavg, machine, say, show

from services.inference.constraints import grammar_for
from services.inference.engines.base import (
    BaseModelSpec,
    ChatTurn,
    GenerationRequest,
    SamplingSettings,
)
from services.inference.engines.grammar import GrammarCompiler, GrammarMask
from tuneloop.inference.v1 import inference_pb2 as pb
from tuneloop_core.basemodels import pull

TARGET_RATIO = 0.8
FRESH_GRAMMARS = 3  # first-token timings with a grammar never seen before (median of)
_ids = itertools.count()


def entries_schema(variant: int = 0) -> dict[str, Any]:
    """Six entries of three bounded strings: at least ~100 tokens of JSON. Each `variant`
    has other field names and bounds, so its grammar shares no rule with another's (xgrammar
    would reuse a cached rule)."""
    text = {"type": "string", "minLength": 2, "maxLength": 32 + 7 * variant}
    fields = ["name", "place", "detail"] if variant == 0 else [f"f{variant}_{i}" for i in range(3)]
    entry = {
        "type": "object",
        "properties": dict.fromkeys(fields, text),
        "required": fields,
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "properties": {"entries": {"type": "array", "items": entry, "minItems": 6, "maxItems": 6}},
        "required": ["entries"],
        "additionalProperties": False,
    }


def schema_grammar(schema: dict[str, Any]) -> str:
    grammar = grammar_for(pb.OutputConstraint(json_schema=json.dumps(schema)), ())
    assert grammar is not None
    return grammar


def prompts(count: int) -> list[str]:
    return [
        f"List six facts about {TOPICS[i % len(TOPICS)]} as JSON: a name, a place and a "
        f"detail for each (note {i})."
        for i in range(count)
    ]


@dataclass
class Burst:
    wall_s: float
    completion_tokens: int
    texts: list[str]


async def one(engine: Any, text: str, grammar: str | None, tokens: int) -> tuple[str, int]:
    request = GenerationRequest(
        f"bench-{next(_ids)}",
        messages=(ChatTurn("user", text),),
        sampling=SamplingSettings(max_tokens=tokens, temperature=0.0),
        grammar=grammar,
    )
    parts, completion = [], 0
    async for chunk in engine.generate(request):
        parts.append(chunk.text)
        completion = chunk.completion_tokens or completion
    return "".join(parts), completion


async def burst(engine: Any, texts: list[str], grammar: str | None, tokens: int) -> Burst:
    start = time.perf_counter()
    replies = await asyncio.gather(*(one(engine, t, grammar, tokens) for t in texts))
    return Burst(
        time.perf_counter() - start, sum(n for _, n in replies), [text for text, _ in replies]
    )


async def first_token_s(engine: Any, grammar: str | None) -> float:
    start = time.perf_counter()
    await one(engine, prompts(1)[0], grammar, 1)
    return time.perf_counter() - start


def build_engine(name: str, base: Path, args: argparse.Namespace) -> Any:
    spec = BaseModelSpec("smollm2", base)
    if name == "transformers":
        from services.inference.engines.transformers_engine import TransformersEngine

        return TransformersEngine(spec, dtype=args.dtype)
    if name == "vllm":
        from services.inference.engines.vllm_engine import VllmEngine

        return VllmEngine(spec, dtype=args.dtype, max_model_len=args.max_model_len)
    from services.inference.engines.llamacpp_engine import LlamaCppEngine
    from tuneloop_core.basemodels import KNOWN_MODELS
    from tuneloop_core.gguf_convert import installed_gguf

    known = KNOWN_MODELS["smollm2-135m"]
    gguf = installed_gguf(known.package, known.version, known.gguf_file, lambda *_: None)
    return LlamaCppEngine(BaseModelSpec("smollm2-gguf", gguf), max_model_len=args.max_model_len)


def valid_prefixes(compiler: GrammarCompiler, grammar: str, texts: list[str]) -> int:
    """How many texts the grammar accepts as (the start of) an answer."""
    return sum(bool(compiler.matcher(grammar).accept_string(text)) for text in texts)


async def measure(
    name: str, base: Path, compiler: GrammarCompiler, variant: int, args: argparse.Namespace
) -> dict[str, Any]:
    """Both arms' tokens/s, then first-token times with grammars `variant`, `variant + 1`..."""
    say(f"{name}: starting, load {loadavg()}")
    started = time.perf_counter()
    engine = build_engine(name, base, args)
    await engine.start()
    say(f"{name}: ready in {time.perf_counter() - started:.0f} s")
    grammar = schema_grammar(entries_schema())
    texts = prompts(args.requests)
    arms: dict[str, list[Burst]] = {"free": [], "constrained": []}
    try:
        for g in (None, grammar):  # warm-up; compiles (and caches) the grammar
            await burst(engine, texts[:2], g, 8)
        for r in range(args.rounds):
            for arm in ["free", "constrained"] if r % 2 == 0 else ["constrained", "free"]:
                b = await burst(
                    engine, texts, grammar if arm == "constrained" else None, args.tokens
                )
                say(f"{name} round {r} {arm}: {b.completion_tokens / b.wall_s:.1f} tokens/s")
                arms[arm].append(b)
        first: dict[str, list[float]] = {"free": [], "new grammar": [], "cached grammar": []}
        for k in range(FRESH_GRAMMARS):
            fresh = schema_grammar(entries_schema(variant + k))
            first["free"].append(await first_token_s(engine, None))
            first["new grammar"].append(await first_token_s(engine, fresh))
            first["cached grammar"].append(await first_token_s(engine, fresh))
    finally:
        await engine.close()
    rate = {
        a: sum(b.completion_tokens for b in bs) / sum(b.wall_s for b in bs)
        for a, bs in arms.items()
    }
    return {
        "rate": rate,
        "tokens": {a: bs[-1].completion_tokens for a, bs in arms.items()},
        "valid": valid_prefixes(compiler, grammar, arms["constrained"][-1].texts),
        "first_ms": {k: statistics.median(v) * 1000 for k, v in first.items()},
    }


def compile_times(compiler: GrammarCompiler) -> tuple[float, float]:
    """Milliseconds of xgrammar's compile of the schema's grammar: first, then cached."""
    grammar = schema_grammar(entries_schema())
    times = []
    for _ in range(2):
        start = time.perf_counter()
        compiler.matcher(grammar)
        times.append((time.perf_counter() - start) * 1000)
    return times[0], times[1]


def mask_ms(compiler: GrammarCompiler, rows: int) -> float:
    """Milliseconds GrammarMask.apply takes on `rows` rows inside a JSON string (fill each
    row's bitmask, mask the logits): the grammar's cost per decode step, free of the
    machine's load in the way a tokens/s ratio is not."""
    import torch

    matchers = [compiler.matcher(schema_grammar(entries_schema())) for _ in range(rows)]
    for matcher in matchers:
        assert matcher.accept_string('{"entries": [{"name": "Rivers of the')
    mask = GrammarMask(matchers, compiler.vocab_size)
    logits = torch.zeros(rows, compiler.vocab_size, dtype=torch.bfloat16)
    reps = 50
    start = time.perf_counter()
    for _ in range(reps):
        mask.apply(logits)
    return (time.perf_counter() - start) * 1000 / reps


async def run(args: argparse.Namespace) -> None:
    from transformers import AutoTokenizer

    say(f"machine: {machine()}")
    started = time.perf_counter()
    base = pull("smollm2-135m", Path(args.cache_root)).resolve()  # converted once, then reused
    tokenizer = AutoTokenizer.from_pretrained(base)
    compiler = GrammarCompiler.for_hf(tokenizer, len(tokenizer), {int(tokenizer.eos_token_id)})
    first_compile, cached_compile = compile_times(compiler)
    results = {
        name: await measure(name, base, compiler, 1 + i * FRESH_GRAMMARS, args)
        for i, name in enumerate(args.engine)
    }
    rows = []
    for name, res in results.items():
        free, held = res["rate"]["free"], res["rate"]["constrained"]
        ratio = held / free
        rows.append(
            [
                name,
                f"{free:.1f}",
                f"{held:.1f}",
                f"{ratio:.3f}",
                f"{'ok' if ratio >= TARGET_RATIO else 'MISS'} (>= {TARGET_RATIO})",
                f"{res['tokens']['free']}/{res['tokens']['constrained']}",
                f"{res['valid']}/{args.requests}",
            ]
        )
    show(
        f"{args.requests} concurrent greedy chat requests, SmolLM2-135M-Instruct, {args.dtype}, "
        f"max_tokens {args.tokens}, {args.rounds} alternating rounds per arm",
        [
            "engine",
            "free tok/s",
            "JSON schema tok/s",
            "schema/free",
            "target",
            "tokens/burst free/schema",
            "schema-valid outputs",
        ],
        rows,
    )
    show(
        f"time to the first token of one request (median of {FRESH_GRAMMARS}), ms",
        ["engine", "free", "new grammar", "cached grammar"],
        [
            [
                name,
                *(f"{res['first_ms'][k]:.0f}" for k in ("free", "new grammar", "cached grammar")),
            ]
            for name, res in results.items()
        ],
    )
    mask_rows = []
    for name, res in results.items():
        rows_per_step = 1 if name == "llamacpp" else args.requests  # llama.cpp: one at a time
        step_ms = 1000 * rows_per_step / res["rate"]["free"]
        cost = mask_ms(compiler, rows_per_step)
        mask_rows.append(
            [name, rows_per_step, f"{step_ms:.1f}", f"{cost:.2f}", f"{100 * cost / step_ms:.2f}%"]
        )
    show(
        "grammar mask per decode step (GrammarMask.apply, measured after the runs) vs a free "
        "decode step (rows / free tok/s)",
        ["engine", "rows", "free step ms", "mask ms", "share"],
        mask_rows,
    )
    say(
        f"xgrammar compile of the schema on SmolLM2's vocabulary (49152 tokens, 2 threads): "
        f"first {first_compile:.0f} ms, cached {cached_compile:.2f} ms"
    )
    say(f"wall time {time.perf_counter() - started:.0f} s; load average after: {loadavg()}")


def parse_args() -> argparse.Namespace:
    engines = ["transformers", "vllm"] if importlib.util.find_spec("vllm") else ["transformers"]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="transformers, 2 rounds, 32 tokens")
    parser.add_argument(
        "--engine", nargs="+", choices=["transformers", "vllm", "llamacpp"], default=engines
    )
    parser.add_argument("--dtype", choices=["bfloat16", "float32"], default="bfloat16")
    parser.add_argument("--requests", type=int, default=8, help="concurrent requests per burst")
    parser.add_argument("--tokens", type=int, default=64, help="max_tokens per request")
    parser.add_argument("--rounds", type=int, default=4, help="bursts per arm, alternating")
    parser.add_argument("--max-model-len", type=int, default=2048)
    parser.add_argument(
        "--cache-root", default=str(ROOT / ".cache"), help="holds models/<name>/ (pulled once)"
    )
    parsed = parser.parse_args()
    if parsed.quick:
        parsed.engine, parsed.rounds, parsed.tokens = ["transformers"], 2, 32
    return parsed


if __name__ == "__main__":
    asyncio.run(run(parse_args()))
