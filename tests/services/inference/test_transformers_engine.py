"""The transformers + PEFT engine on a tiny local model: exact greedy output against plain
transformers, adapters switched per request, batching, streaming, stops, cancellation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer

from services.inference.engines.base import (
    BaseModelSpec,
    ChatTurn,
    GenerationChunk,
    GenerationRequest,
    SamplingSettings,
)
from services.inference.engines.transformers_engine import TransformersEngine
from support.tiny_model import build_tiny_adapter, build_tiny_model
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
