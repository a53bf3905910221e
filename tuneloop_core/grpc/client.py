"""gRPC client helpers: channels, health checks, and failed RPCs back into domain errors."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any, TypeVar

import grpc
import grpc.aio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tuneloop_core.errors import (
    GRPC_META_CODE,
    GRPC_META_PARAM,
    TuneloopError,
    error_class_for_grpc,
)
from tuneloop_core.grpc.server import MAX_MESSAGE_BYTES

Req = TypeVar("Req")
Resp = TypeVar("Resp")


def _service_config(patient: bool) -> str:
    """Every call retries UNAVAILABLE a few times over ~1.5 s (a service restarting, a
    connection being re-established), with reconnects at most 1 s apart; a `patient` call
    also waits for a service that is down until its deadline."""
    method: dict[str, Any] = {
        "name": [{}],
        "retryPolicy": {
            "maxAttempts": 5,
            "initialBackoff": "0.1s",
            "maxBackoff": "1s",
            "backoffMultiplier": 2,
            "retryableStatusCodes": ["UNAVAILABLE"],
        },
    }
    if patient:
        method["waitForReady"] = True
    return json.dumps({"methodConfig": [method]})


def open_channel(addr: str, *, patient: bool = False) -> grpc.aio.Channel:
    """An insecure channel to a service (mTLS is the deployment's job, e.g. a mesh). Use
    `patient` for background workers, so a job outlives a restart of the service it calls;
    a user's request (the gateway's channels) fails after the short retries with 503."""
    options: list[tuple[str, Any]] = [
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.enable_retries", 1),
        ("grpc.service_config", _service_config(patient)),
        ("grpc.initial_reconnect_backoff_ms", 100),
        ("grpc.min_reconnect_backoff_ms", 100),
        ("grpc.max_reconnect_backoff_ms", 1000),
    ]
    return grpc.aio.insecure_channel(addr, options=options)


def error_from_rpc(exc: grpc.aio.AioRpcError) -> TuneloopError:
    """The domain error a failed RPC stands for, with code and param preserved."""
    meta: dict[str, str] = {}
    for key, value in exc.trailing_metadata() or ():
        if isinstance(value, str):
            meta[str(key)] = value
    cls = error_class_for_grpc(exc.code())
    message = exc.details() or exc.code().name.lower()
    if exc.code() is grpc.StatusCode.UNAVAILABLE and GRPC_META_CODE not in meta:
        message = f"service unavailable: {message}"
    return cls(message, code=meta.get(GRPC_META_CODE), param=meta.get(GRPC_META_PARAM))


async def call(
    rpc: grpc.aio.UnaryUnaryMultiCallable[Req, Resp], request: Req, timeout_s: float = 30.0
) -> Resp:
    """Call a unary RPC; a failure is raised as the matching `TuneloopError`."""
    try:
        return await rpc(request, timeout=timeout_s)
    except grpc.aio.AioRpcError as exc:
        raise error_from_rpc(exc) from exc


async def stream(
    rpc: grpc.aio.UnaryStreamMultiCallable[Req, Resp], request: Req, timeout_s: float | None = None
) -> AsyncIterator[Resp]:
    """Iterate a server-streaming RPC; a failure mid-stream is raised as a `TuneloopError`."""
    try:
        async for item in rpc(request, timeout=timeout_s):
            yield item
    except grpc.aio.AioRpcError as exc:
        raise error_from_rpc(exc) from exc


async def check_health(addr: str, timeout_s: float = 2.0, service: str = "") -> bool:
    """True when the server at `addr` answers SERVING to the standard health check."""
    async with open_channel(addr) as channel:
        stub: Any = health_pb2_grpc.HealthStub(channel)  # the stubs omit the methods
        try:
            reply = await stub.Check(
                health_pb2.HealthCheckRequest(service=service), timeout=timeout_s
            )
        except grpc.aio.AioRpcError:
            return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)
