"""The transformers + PEFT engine on a tiny local model: exact greedy output against plain
transformers, adapters switched per request, batching, streaming, stops, cancellation, and
logprobs against a plain forward pass."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer

from services.inference.convert import chunk_to_pb
from services.inference.engines.base import (
    BaseModelSpec,
    ChatTurn,
    GenerationChunk,
    GenerationRequest,
    SamplingSettings,
    TokenLogprob,
)
from services.inference.engines.transformers_engine import TransformersEngine
from support.tiny_model import build_tiny_adapter, build_tiny_model, forward_logprobs
from tuneloop_core.errors import InvalidRequestError, NotFoundError

GREEDY = SamplingSettings(max_tokens=12, temperature=0)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny")
    base = build_tiny_model(root / "base")
    return {
        "base": base,
        "a1": build_tiny_adapter(base, root / "a1", seed=1),
        "a2": build_tiny_adapter(base, root / "a2", seed=2),
    }


@pytest.fixture
async def engine(tiny: dict[str, Path]) -> AsyncIterator[TransformersEngine]:
    engine = TransformersEngine(BaseModelSpec("tiny", tiny["base"]), dtype="float32")
    await engine.start()
    await engine.load_adapter("a1", tiny["a1"])
    await engine.load_adapter("a2", tiny["a2"])
    yield engine
    await engine.close()


def reference_ids(tiny: dict[str, Path], adapter: str | None, prompt: str, n: int) -> list[int]:
    """Greedy continuation computed with plain transformers (+ PEFT) — the ground truth."""
    tokenizer = AutoTokenizer.from_pretrained(tiny["base"])
    model = AutoModelForCausalLM.from_pretrained(tiny["base"], dtype=torch.float32)
    if adapter is not None:
        model = PeftModel.from_pretrained(model, tiny[adapter])
    ids = tokenizer(prompt, return_tensors="pt")["input_ids"]
    out = model.generate(input_ids=ids, max_new_tokens=n, do_sample=False, min_new_tokens=n)
    return [int(t) for t in out[0, ids.shape[1] :]]


async def collect(engine: TransformersEngine, request: GenerationRequest) -> list[GenerationChunk]:
    return [chunk async for chunk in engine.generate(request)]


@pytest.mark.parametrize("adapter", [None, "a1", "a2"])
async def test_greedy_equals_plain_transformers(
    engine: TransformersEngine, tiny: dict[str, Path], adapter: str | None
) -> None:
    prompt = "公文的主旨"
    chunks = await collect(
        engine, GenerationRequest("r", prompt=prompt, adapter=adapter, sampling=GREEDY)
    )
    ids = [t for c in chunks for t in c.token_ids]
    expected = reference_ids(tiny, adapter, prompt, len(ids))
    assert ids == expected
    last = chunks[-1]
    assert last.finish_reason in ("stop", "length")
    assert last.completion_tokens == len(ids)
    assert last.prompt_tokens == engine.count_prompt_tokens(GenerationRequest("c", prompt=prompt))


async def test_adapters_change_output(engine: TransformersEngine) -> None:
    outputs = {}
    for adapter in (None, "a1", "a2"):
        chunks = await collect(
            engine, GenerationRequest("r", prompt="Hello", adapter=adapter, sampling=GREEDY)
        )
        outputs[adapter] = [t for c in chunks for t in c.token_ids]
    assert len({tuple(v) for v in outputs.values()}) == 3


async def test_concurrent_mixed_requests_match_sequential(engine: TransformersEngine) -> None:
    requests = [
        GenerationRequest(
            f"r{i}", prompt=p, adapter=a, sampling=SamplingSettings(max_tokens=4 + i, temperature=0)
        )
        for i, (p, a) in enumerate(
            [
                ("Hello", None),
                ("你好", "a1"),
                ("Hello world", "a1"),
                ("公文", None),
                ("0 1 2", "a2"),
                ("The", "a2"),
            ]
        )
    ]
    sequential = [await collect(engine, r) for r in requests]
    concurrent = await asyncio.gather(*(collect(engine, r) for r in requests))
    for one, many, request in zip(sequential, concurrent, requests, strict=True):
        assert [t for c in one for t in c.token_ids] == [t for c in many for t in c.token_ids]
        assert "".join(c.text for c in many) == "".join(c.text for c in one)
        assert many[-1].completion_tokens <= request.sampling.max_tokens


async def test_streaming_text_and_length_finish(engine: TransformersEngine) -> None:
    request = GenerationRequest(
        "r", prompt="Hello", adapter="a1", sampling=SamplingSettings(max_tokens=9, temperature=0)
    )
    chunks = await collect(engine, request)
    assert chunks[-1].finish_reason == "length"
    assert chunks[-1].completion_tokens == 9
    assert sum(len(c.token_ids) for c in chunks) == 9
    tokenizer = AutoTokenizer.from_pretrained(engine.base.path)
    ids = [t for c in chunks for t in c.token_ids]
    # A trailing partial UTF-8 character is never shown.
    expected = tokenizer.decode(ids, skip_special_tokens=True).rstrip("\ufffd")
    assert "".join(c.text for c in chunks) == expected


async def test_stop_string_ends_generation(engine: TransformersEngine) -> None:
    free = await collect(
        engine,
        GenerationRequest(
            "r",
            prompt="Hello",
            adapter="a1",
            sampling=SamplingSettings(max_tokens=12, temperature=0),
        ),
    )
    text = "".join(c.text for c in free)
    stop = text.strip()[2:4] if len(text.strip()) >= 4 else text.strip()[-1:]
    assert stop, f"degenerate output {text!r}"
    stopped = await collect(
        engine,
        GenerationRequest(
            "r",
            prompt="Hello",
            adapter="a1",
            sampling=SamplingSettings(max_tokens=12, temperature=0, stop=(stop,)),
        ),
    )
    out = "".join(c.text for c in stopped)
    assert stopped[-1].finish_reason == "stop"
    assert stop not in out
    assert text.startswith(out)


async def test_chat_uses_template(engine: TransformersEngine) -> None:
    request = GenerationRequest("r", messages=(ChatTurn("user", "你好"),), sampling=GREEDY)
    rendered = "<|im_start|>user\n你好<|im_end|>\n<|im_start|>assistant\n"
    assert engine.count_prompt_tokens(request) == engine.count_prompt_tokens(
        GenerationRequest("p", prompt=rendered)
    )
    chunks = await collect(engine, request)
    assert chunks[-1].finish_reason is not None


async def test_closing_the_stream_cancels(engine: TransformersEngine) -> None:
    request = GenerationRequest(
        "r", prompt="Hello", sampling=SamplingSettings(max_tokens=200, temperature=0)
    )
    stream = engine.generate(request)
    first = await anext(stream)
    assert first.finish_reason is None
    await stream.aclose()
    after = await collect(engine, GenerationRequest("r2", prompt="Hi", sampling=GREEDY))
    assert after[-1].finish_reason in ("stop", "length")


async def test_errors(engine: TransformersEngine, tiny: dict[str, Path]) -> None:
    with pytest.raises(NotFoundError):
        await collect(engine, GenerationRequest("r", prompt="x", adapter="nope"))
    with pytest.raises(InvalidRequestError) as penalty:
        await collect(
            engine,
            GenerationRequest("r", prompt="x", sampling=SamplingSettings(presence_penalty=0.5)),
        )
    assert penalty.value.param == "presence_penalty"
    await engine.unload_adapter("a2")
    with pytest.raises(NotFoundError):
        await collect(engine, GenerationRequest("r", prompt="x", adapter="a2"))
    await engine.load_adapter("a2", tiny["a2"])
    assert (
        await collect(engine, GenerationRequest("r", prompt="x", adapter="a2", sampling=GREEDY))
    )[-1].finish_reason
    with pytest.raises(InvalidRequestError):
        await engine.load_adapter("bad", tiny["base"])


async def test_unloading_every_adapter_leaves_a_working_base(tiny: dict[str, Path]) -> None:
    engine = TransformersEngine(BaseModelSpec("tiny", tiny["base"]), dtype="float32")
    await engine.start()
    try:
        before = await collect(engine, GenerationRequest("r", prompt="Hello", sampling=GREEDY))
        await engine.load_adapter("a1", tiny["a1"])
        await engine.unload_adapter("a1")
        after = await collect(engine, GenerationRequest("r", prompt="Hello", sampling=GREEDY))
        assert [t for c in after for t in c.token_ids] == [t for c in before for t in c.token_ids]
        await engine.load_adapter("a2", tiny["a2"])
        assert (
            await collect(
                engine, GenerationRequest("r", prompt="Hi", adapter="a2", sampling=GREEDY)
            )
        )[-1].finish_reason
    finally:
        await engine.close()


def assert_ranked(entries: list[TokenLogprob], top: int) -> None:
    for entry in entries:
        assert entry.logprob is not None and entry.logprob <= 0
        values = [t.logprob for t in entry.top]
        assert len(values) == top and values == sorted(values, reverse=True)


def assert_matches(
    entries: list[TokenLogprob], expected: torch.Tensor, ids: list[int], tolerance: float
) -> None:
    """`entries[k]` scores `ids[k]` as row k of `expected`, alternatives included."""
    for entry, row, token in zip(entries, expected, ids, strict=True):
        assert entry.token_id == token
        assert entry.logprob == pytest.approx(row[token].item(), abs=tolerance)
        for alternative in entry.top:
            assert alternative.logprob == pytest.approx(
                row[alternative.token_id].item(), abs=tolerance
            )
        if entry.top:
            assert entry.top[0].logprob == pytest.approx(row.max().item(), abs=tolerance)


async def test_greedy_logprobs_match_a_forward_pass(
    engine: TransformersEngine, tiny: dict[str, Path]
) -> None:
    """Batched with a request that asked for none, which gets none."""
    asked = GenerationRequest("a", prompt="Hello world", sampling=replace(GREEDY, logprobs=3))
    plain = GenerationRequest("p", prompt="Hello world", sampling=GREEDY)
    chunks, plain_chunks = await asyncio.gather(collect(engine, asked), collect(engine, plain))
    assert all(not c.logprobs and not c.prompt_logprobs for c in plain_chunks)
    assert all(not c.prompt_logprobs for c in chunks)
    assert all(len(c.logprobs) == len(c.token_ids) for c in chunks)
    ids = [t for c in chunks for t in c.token_ids]
    assert ids == [t for c in plain_chunks for t in c.token_ids]
    entries = [e for c in chunks for e in c.logprobs]
    assert_ranked(entries, 3)
    for entry in entries:  # greedy free text: the token is the most likely one
        assert entry.top[0].token_id == entry.token_id and entry.top[0].logprob == entry.logprob
    tokenizer = AutoTokenizer.from_pretrained(tiny["base"])
    prompt = tokenizer("Hello world")["input_ids"]
    expected = forward_logprobs(tiny, None, prompt + ids)[len(prompt) - 1 : -1]
    assert_matches(entries, expected, ids, 1e-3)
    shown = [e for e in entries if e.token_id not in tokenizer.all_special_ids]
    text = b"".join(e.token_bytes for e in shown).decode(errors="replace")
    assert text == tokenizer.decode([e.token_id for e in shown])


async def test_prompt_logprobs_with_an_adapter_and_a_penalty(
    engine: TransformersEngine, tiny: dict[str, Path]
) -> None:
    """Prompt logprobs come on the first chunk; logprobs are the model's own, before the
    repetition penalty, and asking for them does not change the tokens."""
    sampling = replace(GREEDY, repetition_penalty=1.5)
    asked = GenerationRequest(
        "a",
        messages=(ChatTurn("user", "公文的主旨"),),
        adapter="a1",
        sampling=replace(sampling, logprobs=2, prompt_logprobs=1),
    )
    chunks = await collect(engine, asked)
    plain = await collect(engine, replace(asked, sampling=sampling))
    ids = [t for c in chunks for t in c.token_ids]
    assert ids == [t for c in plain for t in c.token_ids]
    prompt = chunks[0].prompt_logprobs
    assert len(prompt) == engine.count_prompt_tokens(asked)
    assert prompt[0].logprob is None and prompt[0].top == ()
    assert all(not c.prompt_logprobs for c in chunks[1:])
    assert_ranked(prompt[1:], 1)
    prompt_ids = [e.token_id for e in prompt]
    expected = forward_logprobs(tiny, "a1", prompt_ids + ids)
    assert_matches(prompt[1:], expected[: len(prompt_ids) - 1], prompt_ids[1:], 1e-3)
    entries = [e for c in chunks for e in c.logprobs]
    assert_matches(entries, expected[len(prompt_ids) - 1 : -1], ids, 1e-3)

    reply = chunk_to_pb(chunks[0])  # what the servicer sends
    assert not reply.prompt_logprobs[0].HasField("logprob")
    assert [t.token_id for t in reply.prompt_logprobs] == prompt_ids
    assert reply.prompt_logprobs[1].logprob == pytest.approx(prompt[1].logprob, abs=1e-6)
    assert reply.logprobs[0].top[1].token_bytes == chunks[0].logprobs[0].top[1].token_bytes


async def test_grammar_tokens_show_unmasked_logprobs(
    engine: TransformersEngine, tiny: dict[str, Path]
) -> None:
    request = GenerationRequest(
        "g",
        prompt="Hello",
        sampling=replace(GREEDY, logprobs=1),
        grammar='root ::= "The quick brown fox"',
    )
    chunks = await collect(engine, request)
    assert "".join(c.text for c in chunks) == "The quick brown fox"
    ids = [t for c in chunks for t in c.token_ids]
    entries = [e for c in chunks for e in c.logprobs]
    prompt = AutoTokenizer.from_pretrained(tiny["base"])("Hello")["input_ids"]
    expected = forward_logprobs(tiny, None, prompt + ids)[len(prompt) - 1 : -1]
    assert_matches(entries, expected, ids, 1e-3)
    # The grammar forced tokens the random model did not prefer.
    assert any(e.top[0].token_id != e.token_id for e in entries)
