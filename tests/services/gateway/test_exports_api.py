"""`POST /v1/exports` end to end over real HTTP: the gateway resolves the tenant's adapter
and queues the job on NATS, the trainer's export worker merges, converts, quantises,
checks drift and imports into an Ollama server (the test server implementing Ollama's blob
and create endpoints); the GGUF comes back through `GET /v1/files/{id}/content`."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from support.fake_ollama import OllamaState, fake_ollama
from support.stack import TINY, ApiStack, api_stack
from support.tiny_model import build_tiny_adapter
from tuneloop.inference.v1 import inference_pb2, inference_pb2_grpc
from tuneloop_core import basemodels
from tuneloop_core.grpc.client import open_channel
from tuneloop_core.quantization import LADDER

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.slow]
ADAPTER = f"ft:{TINY}:acme:gw:ftjob-exp:ckpt-1"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[tuple[ApiStack, OllamaState]]:
    root = tmp_path_factory.mktemp("exports")
    with fake_ollama() as (url, received), pytest.MonkeyPatch.context() as env:
        env.setenv("TUNELOOP_EXPORT_OLLAMA_URL", url)  # read when the trainer starts
        async with api_stack(root, trainer=True) as running_stack:
            await load_adapter(running_stack)
            yield running_stack, received


async def load_adapter(stack: ApiStack) -> None:
    """Serve a LoRA adapter owned by tenant `acme`, as a finished training would."""
    base = Path(basemodels.resolve(TINY, stack.common.data_dir).path)
    path = build_tiny_adapter(base, stack.common.data_dir / "artifacts" / "ftjob-exp" / "c1")
    assert stack.inference.grpc is not None
    channel = open_channel(f"127.0.0.1:{stack.inference.grpc.port}")
    try:
        await inference_pb2_grpc.InferenceServiceStub(channel).LoadAdapter(
            inference_pb2.LoadAdapterRequest(
                name=ADAPTER,
                base_model=TINY,
                path=str(path),
                tenant_id=stack.registry.ensure_tenant("acme").id,
            )
        )
    finally:
        await channel.close()


def client(stack: ApiStack, tenant: str) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {stack.key(tenant)}"}
    return httpx.AsyncClient(base_url=stack.url, headers=headers, timeout=30)


async def finished(http: httpx.AsyncClient, export_id: str) -> dict[str, Any]:
    for _ in range(1200):
        body: dict[str, Any] = (await http.get(f"/v1/exports/{export_id}")).json()
        if body["status"] in ("succeeded", "failed", "cancelled"):
            return body
        await asyncio.sleep(0.2)
    raise AssertionError(f"export {export_id} did not finish")


async def test_export_an_adapter_to_gguf_and_ollama(
    stack: tuple[ApiStack, OllamaState],
) -> None:
    api, received = stack
    async with client(api, "acme") as http:
        created = await http.post(
            "/v1/exports",
            json={
                "model": ADAPTER,
                "quantization": "Q4_K_M",  # any case; stored in llama.cpp's spelling
                "pre_tokenizer": "gpt-2",
                "prompts": ["Hello world", "公文的主旨"],
                "ollama_model": "tiny-acme:q4",
            },
        )
        assert created.status_code == 200, created.text
        job = created.json()
        assert job["object"] == "export" and job["id"].startswith("export-")
        assert job["spec"]["quantization"] == "q4_K_M"
        done = await finished(http, job["id"])
        assert done["status"] == "succeeded", done["error"]
        result = done["result"]
        assert result["file_type"] == 15 and result["drift"]["prompts"] == 2
        assert [r["quantization"] for r in result["rungs"]] == ["q4_K_M"]  # as asked
        assert result["requested_quantization"] == "q4_K_M" and result["choice"] is None
        assert result["ollama"]["listed"] is True
        assert "tiny-acme:q4" in received.created

        files = [(await http.get(f"/v1/files/{f}")).json() for f in result["result_files"]]
        names = {f["filename"]: f["id"] for f in files}
        gguf_name = result["gguf"]["filename"]
        assert set(names) == {gguf_name, "Modelfile", "export-report.json"}
        content = (await http.get(f"/v1/files/{names[gguf_name]}/content")).content
        assert content[:4] == b"GGUF"
        assert hashlib.sha256(content).hexdigest() == result["gguf"]["sha256"]

        events = (await http.get(f"/v1/exports/{job['id']}/events")).json()["data"]
        stages = {e["data"]["stage"] for e in events if e["type"] == "progress"}
        assert {"merge", "convert", "quantize", "modelfile", "verify", "ollama"} <= stages

    async with client(api, "globex") as other:
        seen = await other.get(f"/v1/exports/{job['id']}")
        assert seen.status_code == 404
        content = await other.get(f"/v1/files/{names[gguf_name]}/content")
        assert content.status_code == 404


async def test_the_default_export_chooses_its_quantization(
    stack: tuple[ApiStack, OllamaState],
) -> None:
    api, _ = stack
    async with client(api, "acme") as http:
        body = {"model": ADAPTER, "pre_tokenizer": "gpt-2", "prompts": ["Hello world"]}
        created = await http.post("/v1/exports", json=body)
        assert created.status_code == 200, created.text
        job = created.json()
        assert job["spec"]["quantization"] == "auto" and job["spec"]["ollama_model"] == ""
        done = await finished(http, job["id"])
    assert done["status"] == "succeeded", done["error"]
    result = done["result"]
    tried = [rung["quantization"] for rung in result["rungs"]]
    assert tried == list(LADDER[: len(tried)]) and result["quantization"] == tried[-1]
    assert result["requested_quantization"] == "auto" and result["choice"]
    assert result["gguf"]["filename"].endswith(f".{tried[-1]}.gguf")
    assert result["ollama_model"].endswith(f":{tried[-1].lower()}")  # named by what it kept
    assert isinstance(result["rungs"][0]["bytes"], int)


async def test_another_tenants_model_is_not_found(stack: tuple[ApiStack, OllamaState]) -> None:
    api, _ = stack
    async with client(api, "globex") as http:
        reply = await http.post("/v1/exports", json={"model": ADAPTER})
    assert reply.status_code == 404
    assert reply.json()["error"]["param"] == "model"


async def test_unknown_quantization_lists_the_valid_ones(
    stack: tuple[ApiStack, OllamaState],
) -> None:
    api, _ = stack
    async with client(api, "acme") as http:
        reply = await http.post("/v1/exports", json={"model": TINY, "quantization": "q3_K_XL"})
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert error["param"] == "quantization" and error["code"] == "invalid_quantization"
    for valid in ("auto", "q4_K_M", "q8_0", "q4_K_S", "q5_K_M", "q6_K", "f16"):
        assert valid in error["message"]
