"""`tuneloop models add|remove` while the stack runs: the model answers chat through the
openai SDK within 60 s with no restart, and stops being served once removed; `tuneloop
status` says when no base model is installed."""

from __future__ import annotations

import asyncio
import io
import time
from pathlib import Path

import openai
import pytest
from rich.console import Console

from services.inference.server import serve as serve_inference
from services.inference.settings import InferenceSettings
from support.inprocess import running
from support.stack import TINY, api_stack
from support.tiny_model import build_tiny_model
from tests.conftest import NatsServer
from tuneloop_cli import commands, models
from tuneloop_core.basemodels import NO_BASE_MODEL
from tuneloop_core.settings import CommonSettings


def consoles() -> tuple[Console, io.StringIO]:
    text = io.StringIO()
    return Console(file=text, width=200), text


def point_cli_at(common: CommonSettings, monkeypatch: pytest.MonkeyPatch, **addrs: str) -> None:
    """The CLI reads its settings from the environment, as a user's shell gives them."""
    monkeypatch.setenv("TUNELOOP_DATA_DIR", str(common.data_dir))
    monkeypatch.setenv("TUNELOOP_NATS_URL", common.nats_url)
    for name, addr in addrs.items():
        monkeypatch.setenv(f"TUNELOOP_{name.upper()}_ADDR", addr)


async def test_status_says_no_base_model_is_installed(
    data_dir: Path, nats_server: NatsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    common = CommonSettings(data_dir=data_dir, nats_url=nats_server.url)
    settings = InferenceSettings(grpc_port=0, shutdown_grace_s=1, common=common)
    async with running(serve_inference, settings) as inference:
        assert inference.grpc is not None
        point_cli_at(common, monkeypatch, inference=f"127.0.0.1:{inference.grpc.port}")
        out, text = consoles()
        await asyncio.to_thread(commands.status, out)
    assert NO_BASE_MODEL in text.getvalue()


async def test_models_add_answers_chat_within_a_minute_and_remove_unloads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = build_tiny_model(tmp_path / "second-src", seed=5)
    # No rescan during the test: the CLI's announcement alone makes the stack load it.
    async with api_stack(tmp_path / "stack", rescan_s=3600) as stack:
        inference_addr = f"127.0.0.1:{stack.inference.grpc.port}"  # type: ignore[union-attr]
        point_cli_at(stack.common, monkeypatch, inference=inference_addr)
        client = openai.AsyncOpenAI(
            base_url=f"{stack.url}/v1", api_key=stack.key("acme"), max_retries=0
        )
        out, printed = consoles()
        err, said = consoles()
        started = time.monotonic()
        assert await asyncio.to_thread(models.add, "second", str(source), out, err) == 0
        assert "Announced to the running stack" in said.getvalue()
        assert printed.getvalue().strip().endswith("second")  # its directory
        while True:
            try:
                reply = await client.chat.completions.create(
                    model="second",
                    messages=[{"role": "user", "content": "Hello"}],
                    max_tokens=4,
                    temperature=0,
                )
                break
            except openai.NotFoundError:
                assert time.monotonic() - started < 60, "not served within 60 s"
                await asyncio.sleep(0.2)
        assert reply.model == "second" and reply.choices[0].finish_reason
        ids = [m.id for m in (await client.models.list()).data]
        assert {"second", TINY} <= set(ids)

        status, shown = consoles()
        await asyncio.to_thread(commands.status, status)
        assert f"Base models served: second, {TINY}" in shown.getvalue()

        assert await asyncio.to_thread(models.remove, "second", True, out, err) == 0
        started = time.monotonic()
        while "second" in [m.id for m in (await client.models.list()).data]:
            assert time.monotonic() - started < 60, "still served after removal"
            await asyncio.sleep(0.2)
        with pytest.raises(openai.NotFoundError) as caught:
            await client.chat.completions.create(
                model="second", messages=[{"role": "user", "content": "Hello"}], max_tokens=4
            )
        assert f"available: {TINY}" in caught.value.message
        assert not (stack.common.data_dir / "models" / "second").exists()
        assert await asyncio.to_thread(source.is_dir)  # registered: the weights stay
