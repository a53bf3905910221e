"""Health probes of a running stack: NATS port, every service's gRPC health, gateway HTTP."""

from __future__ import annotations

import asyncio
import socket
from urllib.parse import urlparse

import httpx

from tuneloop.inference.v1 import inference_pb2, inference_pb2_grpc
from tuneloop_core.errors import TuneloopError
from tuneloop_core.grpc.client import call, check_health, open_channel
from tuneloop_core.settings import CommonSettings


def host_port(addr: str) -> tuple[str, int]:
    """("127.0.0.1", 4333) from "nats://127.0.0.1:4333" or "127.0.0.1:4333"."""
    parsed = urlparse(addr if "://" in addr else f"tcp://{addr}")
    if parsed.hostname is None or parsed.port is None:
        raise ValueError(f"address without host and port: {addr}")
    return parsed.hostname, parsed.port


def port_open(addr: str, timeout_s: float = 0.5) -> bool:
    try:
        with socket.create_connection(host_port(addr), timeout=timeout_s):
            return True
    except OSError:
        return False


async def _http_ok(url: str, timeout_s: float) -> bool:
    try:
        async with httpx.AsyncClient(timeout=timeout_s) as client:
            return (await client.get(url)).status_code == 200
    except httpx.HTTPError:
        return False


async def probe_all(
    common: CommonSettings, gateway_url: str, timeout_s: float = 2.0
) -> dict[str, bool]:
    """Health of each component by name: nats, the five gRPC services, gateway-http."""
    names = list(common.service_addrs())
    grpc_checks = [check_health(common.service_addrs()[n], timeout_s) for n in names]
    results = await asyncio.gather(*grpc_checks, _http_ok(f"{gateway_url}/healthz", timeout_s))
    health = {"nats": port_open(common.nats_url)}
    health.update(zip(names, results[:-1], strict=True))
    health["gateway-http"] = results[-1]
    return health


async def served_base_models(addr: str, timeout_s: float = 2.0) -> list[str] | None:
    """The base models the inference service at `addr` serves; None when it cannot say."""
    async with open_channel(addr) as channel:
        stub = inference_pb2_grpc.InferenceServiceStub(channel)
        try:
            reply = await call(stub.ListModels, inference_pb2.ListModelsRequest(), timeout_s)
        except TuneloopError:
            return None
    return [m.name for m in reply.models if m.kind == inference_pb2.MODEL_KIND_BASE]
