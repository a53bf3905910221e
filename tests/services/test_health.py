"""Every service starts in-process, answers the standard gRPC health check, and stops
cleanly (then answers nothing)."""

from __future__ import annotations

import importlib
import time

import pytest

from support.inprocess import running
from tuneloop_core.grpc.client import check_health
from tuneloop_core.settings import SERVICE_NAMES, CommonSettings

SETTINGS_CLASSES = {
    "gateway": "GatewaySettings",
    "inference": "InferenceSettings",
    "trainer": "TrainerSettings",
    "datagen": "DatagenSettings",
    "evaluator": "EvaluatorSettings",
}


@pytest.mark.parametrize("name", SERVICE_NAMES)
async def test_service_answers_health_and_stops(name: str, common: CommonSettings) -> None:
    settings_module = importlib.import_module(f"services.{name}.settings")
    server_module = importlib.import_module(f"services.{name}.server")
    settings_cls = getattr(settings_module, SETTINGS_CLASSES[name])
    extra = {"port": 0} if name == "gateway" else {}
    settings = settings_cls(grpc_port=0, shutdown_grace_s=2, common=common, **extra)

    async with running(server_module.serve, settings) as runtime:
        assert runtime.grpc is not None
        addr = f"127.0.0.1:{runtime.grpc.port}"
        assert await check_health(addr)
        # Every service answers for its synchronous API by name too (the evaluator's runs
        # one grader now, for the graders endpoint).
        service_name = getattr(server_module, "SERVICE_NAME", None)
        assert service_name is not None, f"{name} names no gRPC service"
        assert await check_health(addr, service=service_name)
        assert not await check_health(addr, service="tuneloop.nope.v1.NopeService")
        stopping_at = time.monotonic()
    assert time.monotonic() - stopping_at < 5, "shutdown must not wait for drain timeouts"
    assert not await check_health(addr, timeout_s=0.5)
