"""The gateway's Prometheus `/metrics` (no key, like `/healthz`): its HTTP requests by route
template and status with latency, the process-wide metrics of `tuneloop_core.metrics`, and
at scrape time jobs by kind and status (registry) and queue depth (JetStream consumers)."""

from __future__ import annotations

import asyncio
import contextlib
import time

from fastapi import FastAPI, Request, Response
from nats.js.errors import NotFoundError as StreamNotFound
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Gauge,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.gateway.state import GatewayState
from tuneloop_core.bus import subjects
from tuneloop_core.metrics import HTTP_REQUESTS, HTTP_SECONDS


class HttpMetrics:
    """ASGI middleware: count each request by its route template (not its raw path, so ids
    do not explode the label set) and time it until the response starts."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # unless the app answers

        async def send_timed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                route = _route(scope)
                HTTP_SECONDS.labels(scope["method"], route).observe(time.perf_counter() - started)
            await send(message)

        try:
            await self.app(scope, receive, send_timed)
        finally:
            HTTP_REQUESTS.labels(scope["method"], _route(scope), str(status)).inc()


def _route(scope: Scope) -> str:
    route = scope.get("route")
    return str(getattr(route, "path", None) or "unmatched")


async def _queue_depth(state: GatewayState, gauge: Gauge) -> None:
    if state.nats is None or state.nats.is_closed:
        return
    js = state.nats.jetstream()
    for kind, token in subjects.KIND_TOKENS.items():
        with contextlib.suppress(StreamNotFound, asyncio.TimeoutError):  # no worker yet
            info = await js.consumer_info(subjects.STREAM_JOBS, subjects.worker_durable(kind))
            gauge.labels(token, "pending").set(info.num_pending or 0)
            gauge.labels(token, "in_progress").set(info.num_ack_pending or 0)


async def scrape(state: GatewayState) -> bytes:
    """This process's metrics plus the jobs and queue gauges, read now."""
    now = CollectorRegistry()
    jobs = Gauge("tuneloop_jobs", "jobs in the registry", ["kind", "status"], registry=now)
    for kind, status, n in await state.registry.count_jobs():
        jobs.labels(kind, status).set(n)
    depth = Gauge(
        "tuneloop_queue_depth",
        "jobs in JetStream by kind: pending (not yet taken), in_progress (taken, not acked)",
        ["kind", "state"],
        registry=now,
    )
    await _queue_depth(state, depth)
    return generate_latest(REGISTRY) + generate_latest(now)


def install_metrics(app: FastAPI) -> None:
    app.add_middleware(HttpMetrics)

    @app.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        state: GatewayState = request.app.state.gateway
        return Response(await scrape(state), media_type=CONTENT_TYPE_LATEST)
