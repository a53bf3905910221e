"""The vLLM engine on a tiny local model: exact greedy output against plain transformers +
PEFT, adapters per request, streaming, stop strings, aborts, concurrency, unload/reload,
logprobs against a plain forward pass.

One engine for the whole module (a cold start takes tens of seconds), so every test runs
on the module's event loop and leaves the loaded adapters as it found them.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer

from services.inference.engines.base import (
    BaseModelSpec,
    ChatTurn,
    GenerationChunk,
    GenerationRequest,
    SamplingSettings,
    TokenLogprob,
)
from services.inference.engines.vllm_engine import VllmEngine
from support.tiny_model import build_tiny_adapter, build_tiny_model, forward_logprobs
from tuneloop_core.errors import NotFoundError

os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")  # GiB
os.environ.setdefault("VLLM_HOST_IP", "127.0.0.1")
os.environ.setdefault("VLLM_NO_USAGE_STATS", "1")

pytestmark = [
    pytest.mark.vllm,
    pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="vLLM not installed"),
    pytest.mark.asyncio(loop_scope="module"),
]

N = 16  # greedy tokens compared against the reference
GREEDY = SamplingSettings(max_tokens=N, temperature=0)
PROMPT = "Hello world, hello"
CHAT = (ChatTurn("system", "You are terse."), ChatTurn("user", "公文的主旨是什麼？"))
ADAPTERS = (None, "a1", "a2")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny")
    base = build_tiny_model(root / "base")
    return {
        "base": base,
        "a1": build_tiny_adapter(base, root / "a1", seed=1),
        "a2": build_tiny_adapter(base, root / "a2", seed=2),
    }


@pytest.fixture(scope="module")
def reference(tiny: dict[str, Path]) -> dict[tuple[str | None, str], list[int]]:
    """Greedy continuations from plain transformers (+ PEFT) in float32: the ground truth,
    keyed by (adapter, "raw" | "chat")."""
    tokenizer = AutoTokenizer.from_pretrained(tiny["base"])
    chat = [{"role": t.role, "content": t.content} for t in CHAT]
    prompts = {
        "raw": tokenizer(PROMPT)["input_ids"],
        "chat": tokenizer(
            tokenizer.apply_chat_template(chat, add_generation_prompt=True, tokenize=False),
            add_special_tokens=False,
        )["input_ids"],
    }
    out: dict[tuple[str | None, str], list[int]] = {}
    for adapter in ADAPTERS:
        model = AutoModelForCausalLM.from_pretrained(tiny["base"], dtype=torch.float32)
        if adapter is not None:
            model = PeftModel.from_pretrained(model, tiny[adapter])
        for kind, ids in prompts.items():
            generated = model.generate(
                input_ids=torch.tensor([ids]), max_new_tokens=N, do_sample=False
            )
            out[adapter, kind] = [int(t) for t in generated[0, len(ids) :]]
    return out


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def vllm_engine(tiny: dict[str, Path]) -> AsyncIterator[VllmEngine]:
    engine = VllmEngine(
        BaseModelSpec("tiny", tiny["base"]), dtype="float32", max_loras=2, max_lora_rank=8
    )
    await engine.start()
    await engine.load_adapter("a1", tiny["a1"])
    await engine.load_adapter("a2", tiny["a2"])
    yield engine
    await engine.close()


def request(
    adapter: str | None = None, *, chat: bool = False, **sampling: Any
) -> GenerationRequest:
    settings = replace(GREEDY, **sampling)
    if chat:
        return GenerationRequest("t", messages=CHAT, adapter=adapter, sampling=settings)
    return GenerationRequest("t", prompt=PROMPT, adapter=adapter, sampling=settings)


async def collect(engine: VllmEngine, req: GenerationRequest) -> list[GenerationChunk]:
    return [chunk async for chunk in engine.generate(req)]


def token_ids(chunks: list[GenerationChunk]) -> list[int]:
    return [t for c in chunks for t in c.token_ids]


@pytest.mark.parametrize("chat", [False, True], ids=["raw", "chat"])
@pytest.mark.parametrize("adapter", ADAPTERS, ids=["base", "a1", "a2"])
async def test_greedy_output_matches_transformers(
    vllm_engine: VllmEngine,
    reference: dict[tuple[str | None, str], list[int]],
    adapter: str | None,
    chat: bool,
) -> None:
    expected = reference[adapter, "chat" if chat else "raw"]
    assert len(set(expected)) > N // 2, "reference output is degenerate"
    chunks = await collect(vllm_engine, request(adapter, chat=chat))
    assert token_ids(chunks) == expected


async def test_adapters_change_the_output(vllm_engine: VllmEngine) -> None:
    outputs = [token_ids(await collect(vllm_engine, request(a))) for a in ADAPTERS]
    assert outputs[0] != outputs[1] and outputs[0] != outputs[2] and outputs[1] != outputs[2]


async def test_stream_deltas_add_up_to_the_completion(vllm_engine: VllmEngine) -> None:
    req = request(chat=True, max_tokens=12)
    chunks = await collect(vllm_engine, req)
    assert len(chunks) > 1
    assert all(c.finish_reason is None for c in chunks[:-1])
    last = chunks[-1]
    assert last.finish_reason == "length"
    assert last.completion_tokens == 12 == len(token_ids(chunks))
    assert last.prompt_tokens == vllm_engine.count_prompt_tokens(req)
    tokenizer = AutoTokenizer.from_pretrained(vllm_engine.base.path)
    text = "".join(c.text for c in chunks)
    assert text == tokenizer.decode(token_ids(chunks), skip_special_tokens=True)


async def test_stop_string_ends_with_stop(vllm_engine: VllmEngine) -> None:
    full = "".join(c.text for c in await collect(vllm_engine, request(max_tokens=N)))
    stop = full[len(full) // 2 : len(full) // 2 + 2]
    cut = full.index(stop)
    chunks = await collect(vllm_engine, request(max_tokens=N, stop=(stop,)))
    assert chunks[-1].finish_reason == "stop"
    assert "".join(c.text for c in chunks) == full[:cut]
    assert chunks[-1].completion_tokens < N


async def test_closing_the_stream_aborts_the_request(vllm_engine: VllmEngine) -> None:
    stream = vllm_engine.generate(request(max_tokens=200))
    first = await anext(stream)
    assert first.finish_reason is None
    await stream.aclose()
    assert vllm_engine._llm.get_num_unfinished_requests() == 0  # vLLM forgot the request
    chunks = await collect(vllm_engine, request())
    assert chunks[-1].finish_reason == "length"


async def test_cancelling_the_consumer_aborts_the_request(vllm_engine: VllmEngine) -> None:
    started = asyncio.Event()

    async def consume() -> None:
        async for _ in vllm_engine.generate(request(max_tokens=200)):
            started.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(started.wait(), 30)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert vllm_engine._llm.get_num_unfinished_requests() == 0
    assert (await collect(vllm_engine, request()))[-1].finish_reason == "length"


async def test_concurrent_requests_over_several_adapters(
    vllm_engine: VllmEngine, reference: dict[tuple[str | None, str], list[int]]
) -> None:
    adapters = [ADAPTERS[i % 3] for i in range(8)]
    results = await asyncio.gather(*(collect(vllm_engine, request(a)) for a in adapters))
    for adapter, chunks in zip(adapters, results, strict=True):
        assert token_ids(chunks) == reference[adapter, "raw"], adapter


async def test_unknown_adapter_is_not_found(vllm_engine: VllmEngine) -> None:
    with pytest.raises(NotFoundError) as err:
        await collect(vllm_engine, request("nope"))
    assert (err.value.code, err.value.param) == ("model_not_found", "model")
    with pytest.raises(NotFoundError):
        await vllm_engine.unload_adapter("nope")


async def test_unload_and_reload(
    vllm_engine: VllmEngine,
    tiny: dict[str, Path],
    reference: dict[tuple[str | None, str], list[int]],
) -> None:
    await vllm_engine.unload_adapter("a2")
    with pytest.raises(NotFoundError):
        await collect(vllm_engine, request("a2"))
    # Reloading a name with other weights serves the new weights, not vLLM's cached copy.
    await vllm_engine.load_adapter("a2", tiny["a1"])
    assert token_ids(await collect(vllm_engine, request("a2"))) == reference["a1", "raw"]
    await vllm_engine.load_adapter("a2", tiny["a2"])
    assert token_ids(await collect(vllm_engine, request("a2"))) == reference["a2", "raw"]


def assert_matches(entries: list[TokenLogprob], expected: torch.Tensor, top: int) -> None:
    """`entries[k]` scores its token as row k of `expected`, with `top` alternatives, most
    likely first."""
    assert len(entries) == len(expected)
    for entry, row in zip(entries, expected, strict=True):
        assert entry.logprob is not None and entry.logprob <= 0
        assert entry.logprob == pytest.approx(row[entry.token_id].item(), abs=0.05)
        values = [t.logprob for t in entry.top]
        assert len(values) == top and values == sorted(values, reverse=True)
        for alternative in entry.top:
            assert alternative.logprob == pytest.approx(row[alternative.token_id].item(), abs=0.05)


async def test_logprobs_match_transformers(
    vllm_engine: VllmEngine,
    tiny: dict[str, Path],
    reference: dict[tuple[str | None, str], list[int]],
) -> None:
    """With an adapter, batched with a request that asked for none (and gets none)."""
    asked = request("a1", chat=True, logprobs=3, prompt_logprobs=2)
    chunks, plain = await asyncio.gather(
        collect(vllm_engine, asked), collect(vllm_engine, request("a1", chat=True))
    )
    assert all(not c.logprobs and not c.prompt_logprobs for c in plain)
    ids = token_ids(chunks)
    assert ids == reference["a1", "chat"]
    assert all(len(c.logprobs) == len(c.token_ids) for c in chunks)
    prompt = chunks[0].prompt_logprobs
    assert len(prompt) == vllm_engine.count_prompt_tokens(asked)
    assert prompt[0].logprob is None and prompt[0].top == ()
    assert all(not c.prompt_logprobs for c in chunks[1:])
    prompt_ids = [e.token_id for e in prompt]
    expected = forward_logprobs(tiny, "a1", prompt_ids + ids)[:-1]
    assert_matches(prompt[1:], expected[: len(prompt) - 1], 2)
    entries = [e for c in chunks for e in c.logprobs]
    assert_matches(entries, expected[len(prompt) - 1 :], 3)
    for entry in entries:  # greedy free text: the token is the most likely one
        assert entry.top[0].token_id == entry.token_id and entry.top[0].logprob == entry.logprob
    tokenizer = AutoTokenizer.from_pretrained(tiny["base"])
    text = b"".join(e.token_bytes for e in entries).decode(errors="replace")
    assert text == tokenizer.decode(ids)


async def test_a_sampled_token_outside_the_top_keeps_its_logprob(
    vllm_engine: VllmEngine, tiny: dict[str, Path]
) -> None:
    """Logprobs are the model's own, before temperature: a hot sample often leaves the top."""
    chunks = await collect(vllm_engine, request(temperature=2.0, seed=7, logprobs=1))
    ids = token_ids(chunks)
    entries = [e for c in chunks for e in c.logprobs]
    prompt = AutoTokenizer.from_pretrained(tiny["base"])(PROMPT)["input_ids"]
    assert_matches(entries, forward_logprobs(tiny, None, prompt + ids)[len(prompt) - 1 : -1], 1)
    outside = [e for e in entries if e.top[0].token_id != e.token_id]
    assert outside
    assert all(e.logprob is not None and e.logprob < e.top[0].logprob for e in outside)


async def test_grammar_logprobs_are_over_the_allowed_tokens(
    vllm_engine: VllmEngine, tiny: dict[str, Path]
) -> None:
    """Unlike the other engines, vLLM masks the logits before it computes logprobs, so a
    token the grammar forced looks likelier than the model found it."""
    req = replace(request(logprobs=1, max_tokens=30), grammar='root ::= "The quick brown fox"')
    chunks = await collect(vllm_engine, req)
    assert "".join(c.text for c in chunks) == "The quick brown fox"
    ids = token_ids(chunks)
    entries = [e for c in chunks for e in c.logprobs]
    prompt = AutoTokenizer.from_pretrained(tiny["base"])(PROMPT)["input_ids"]
    expected = forward_logprobs(tiny, None, prompt + ids)[len(prompt) - 1 : -1]
    unmasked = [row[e.token_id].item() for e, row in zip(entries, expected, strict=True)]
    for entry, model_logprob in zip(entries, unmasked, strict=True):
        assert entry.logprob is not None and entry.logprob >= model_logprob - 0.05
        assert entry.top[0].token_id == entry.token_id  # greedy among the allowed tokens
    gains = [(e.logprob or 0) - m for e, m in zip(entries, unmasked, strict=True)]
    assert max(gains) > 1
