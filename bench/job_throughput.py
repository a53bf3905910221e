"""Job throughput of the NATS path: 1,000 no-op jobs through Tuneloop's queue, against a
bare JetStream work queue moving the same number of messages.

Tuneloop's path, as for every real job: the job is recorded in the registry and its
`JobRequested` published on the JOBS work queue (what the gateway's submit does); workers
(`run_worker`, `JobWorker`) take it, ask the gateway for its status over gRPC, publish
"taken", "running" and "succeeded" events; the gateway's registry writer applies them.
A job counts when the registry says `succeeded`. The peer: the same number of messages
published to a JetStream work-queue stream and fetched and acked by as many pull
consumers, nothing else. Reports jobs/s of both, the ratio, and lost or doubled jobs
(target 0).

    .venv/bin/python bench/job_throughput.py [--jobs 1000] [--workers 2]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import time
from collections import Counter
from pathlib import Path

import _common  # noqa: F401  (import paths)
import nats
from _common import loadavg, machine, say, show
from nats.js.api import RetentionPolicy, StreamConfig
from sqlalchemy import func, select

from services.gateway.registry.db import Database
from services.gateway.registry.models import Job
from services.gateway.registry.store import Registry
from services.gateway.server import serve as serve_gateway
from services.gateway.settings import GatewaySettings
from support.inprocess import running
from tests.conftest import NatsServer
from tuneloop.common.v1 import common_pb2
from tuneloop.events.v1 import events_pb2
from tuneloop.gateway.v1 import gateway_pb2_grpc
from tuneloop_core.bus.connect import connect
from tuneloop_core.bus.jobrun import JobRun, JobWorker
from tuneloop_core.bus.publish import publish_job
from tuneloop_core.bus.worker import WorkerOptions, run_worker
from tuneloop_core.grpc.client import open_channel
from tuneloop_core.settings import CommonSettings

KIND = common_pb2.JOB_KIND_EXPORT  # any kind: no real worker of it runs here


class NoopWorker(JobWorker):
    kind = KIND
    title = "no-op"

    async def work(self, run: JobRun, status: int, request: events_pb2.JobRequested) -> None:
        await run.running("started")
        await run.succeed("done", {})


async def tuneloop_path(root: Path, nats_url: str, args: argparse.Namespace) -> dict[str, float]:
    common = CommonSettings(
        data_dir=root / "data",
        nats_url=nats_url,
        database_url=args.database_url or f"sqlite:///{root / 'registry.db'}",
    )
    (root / "data").mkdir()
    gateway_settings = GatewaySettings(grpc_port=0, port=0, shutdown_grace_s=1, common=common)
    registry = Registry(Database(common.database_url))
    async with running(serve_gateway, gateway_settings) as gateway:
        assert gateway.grpc is not None
        channel = open_channel(f"127.0.0.1:{gateway.grpc.port}", patient=True)
        stub = gateway_pb2_grpc.GatewayServiceStub(channel)
        clients = [await connect(nats_url, f"bench-worker-{w}") for w in range(args.workers)]
        stop = asyncio.Event()
        options = WorkerOptions(fetch_timeout_s=0.2)
        workers = [
            asyncio.create_task(
                run_worker(
                    c.jetstream(), KIND, NoopWorker(c.jetstream(), stub).handle, stop, options
                )
            )
            for c in clients
        ]
        publisher = await connect(nats_url, "bench-submit")
        js = publisher.jetstream()
        tenant_id = registry.ensure_tenant("bench").id
        ids = [f"exp-bench{i:05d}" for i in range(args.jobs)]
        started = time.perf_counter()
        for job_id in ids:  # as services/gateway/jobs/service.py submits a job
            await asyncio.to_thread(registry.create_job, tenant_id, "export", {}, job_id=job_id)
            await publish_job(js, job_id=job_id, tenant_id=tenant_id, kind=KIND, spec={})
        submitted = time.perf_counter() - started
        deadline = time.perf_counter() + args.timeout
        while time.perf_counter() < deadline:
            done = await asyncio.to_thread(count_succeeded, registry, ids)
            if done == len(ids):
                break
            await asyncio.sleep(0.2)
        wall = time.perf_counter() - started
        stop.set()
        await asyncio.gather(*workers)
        for client in [*clients, publisher]:
            await client.close()
        await channel.close()
        taken = Counter(
            job_id
            for job_id in ids
            for row in registry.list_events(job_id, limit=100)
            if row.message.startswith("Taken by worker")
        )
    registry.db.close()
    return {
        "done": done,
        "wall_s": wall,
        "submit_s": submitted,
        "lost": len(ids) - done,
        "doubled": sum(1 for n in taken.values() if n > 1),
    }


def count_succeeded(registry: Registry, ids: list[str]) -> int:
    """One query (polling 1,000 rows one by one would load the CPU it measures)."""
    query = select(func.count()).where(Job.id.in_(ids), Job.status == "succeeded")
    with registry.db.session() as s:
        return int(s.scalar(query) or 0)


async def bare_path(nats_url: str, args: argparse.Namespace) -> dict[str, float]:
    """The same number of messages through a bare work-queue stream."""
    client = await nats.connect(nats_url)
    js = client.jetstream()
    await js.add_stream(
        StreamConfig(name="BARE", subjects=["bare.>"], retention=RetentionPolicy.WORK_QUEUE)
    )
    consumers = [await nats.connect(nats_url) for _ in range(args.workers)]
    seen: Counter[str] = Counter()
    stop, all_seen = asyncio.Event(), asyncio.Event()

    async def consume(c: nats.NATS) -> None:
        sub = await c.jetstream().pull_subscribe("bare.job", durable="bare", stream="BARE")
        while not stop.is_set():
            try:
                for msg in await sub.fetch(1, timeout=0.2):
                    seen[msg.data.decode()] += 1
                    await msg.ack()
                    if len(seen) == args.jobs:
                        all_seen.set()
            except TimeoutError:
                continue

    tasks = [asyncio.create_task(consume(c)) for c in consumers]
    started = time.perf_counter()
    for i in range(args.jobs):
        await js.publish("bare.job", str(i).encode(), headers={"Nats-Msg-Id": str(i)})
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(all_seen.wait(), args.timeout)
    wall = time.perf_counter() - started
    stop.set()
    await asyncio.gather(*tasks)
    for c in [client, *consumers]:
        await c.close()
    return {
        "done": len(seen),
        "wall_s": wall,
        "lost": args.jobs - len(seen),
        "doubled": sum(1 for n in seen.values() if n > 1),
    }


async def run(args: argparse.Namespace) -> None:
    say(f"machine: {machine()}")
    with tempfile.TemporaryDirectory(prefix="bench-jobs-") as tmp:
        root = Path(tmp)
        server = NatsServer(root / "jetstream")
        server.start()
        try:
            bare = await bare_path(server.url, args)
            say(f"bare JetStream: {bare['done'] / bare['wall_s']:.0f} messages/s")
            ours = await tuneloop_path(root, server.url, args)
        finally:
            server.stop()
    rate = {name: r["done"] / r["wall_s"] for name, r in (("tuneloop", ours), ("bare", bare))}
    show(
        f"{args.jobs} no-op jobs, {args.workers} workers, one nats-server (file store), "
        f"registry {'SQLite' if not args.database_url else args.database_url.split(':')[0]}",
        ["path", "done", "lost", "taken twice", "wall s", "jobs/s", "vs bare JetStream"],
        [
            [
                "Tuneloop job (registry + queue + events)",
                ours["done"],
                ours["lost"],
                ours["doubled"],
                f"{ours['wall_s']:.2f}",
                f"{rate['tuneloop']:.0f}",
                f"{rate['tuneloop'] / rate['bare']:.3f}",
            ],
            [
                "bare JetStream work queue",
                bare["done"],
                bare["lost"],
                bare["doubled"],
                f"{bare['wall_s']:.2f}",
                f"{rate['bare']:.0f}",
                "1",
            ],
        ],
    )
    say(f"submitting alone (registry insert + publish): {ours['submit_s']:.2f} s; load {loadavg()}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--database-url", default="", help="e.g. postgresql://...; SQLite if unset")
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(run(parse_args()))
