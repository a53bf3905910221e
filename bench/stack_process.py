"""Child process of `_common.tuneloop_stack`: runs `tests/support/stack.py:api_stack`
(nats-server, inference, gateway in one process) and loads the adapters through the
inference gRPC `LoadAdapter`; or, with mode "gateway", one more gateway on such a stack.
The config arrives as one JSON line on stdin; the process writes `<workdir>/ready.json`
once serving and stops on stdin EOF or SIGTERM."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import _common  # noqa: F401  (import paths and vLLM's environment)

import support.stack
from services.gateway.server import serve as serve_gateway
from services.gateway.settings import GatewaySettings
from support.inprocess import ServeFn
from support.stack import api_stack
from tuneloop.inference.v1 import inference_pb2, inference_pb2_grpc
from tuneloop_core.grpc.client import call, open_channel
from tuneloop_core.runtime import ServiceRuntime
from tuneloop_core.settings import CommonSettings

TENANT = "bench"
START_TIMEOUT_S = 600  # a vLLM cold start takes 40-90 s on 2 idle cores, more under load


@asynccontextmanager
async def running_patiently(
    serve: ServeFn, settings: Any, start_timeout_s: float = START_TIMEOUT_S
) -> AsyncIterator[ServiceRuntime]:
    """`support.inprocess.running` with a longer start timeout: the tests' is shorter than a
    vLLM engine takes to start on this machine (the longer of the two applies)."""
    started: asyncio.Future[ServiceRuntime] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(
        serve(settings, install_signals=False, on_started=started.set_result)
    )
    done, _ = await asyncio.wait(
        {task, started},
        timeout=max(start_timeout_s, START_TIMEOUT_S),
        return_when=asyncio.FIRST_COMPLETED,
    )
    if started not in done:
        task.cancel()
        raise RuntimeError(f"service did not start: {task.exception() if task.done() else ''}")
    runtime = started.result()
    try:
        yield runtime
    finally:
        runtime.stop.set()
        await asyncio.wait_for(task, 60)


async def serve_stack(config: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
    """The whole stack; adapters loaded for tenant TENANT."""
    workdir, base_dir = Path(config["workdir"]), Path(config["base_dir"])  # absolute
    settings = {"base_models": [str(base_dir)], **config["settings"]}
    async with api_stack(workdir / "root", **settings) as stack:
        tenant_id = stack.registry.ensure_tenant(TENANT).id
        assert stack.inference.grpc is not None
        grpc_addr = f"127.0.0.1:{stack.inference.grpc.port}"
        async with open_channel(grpc_addr) as channel:
            stub = inference_pb2_grpc.InferenceServiceStub(channel)
            for name, path in config["adapters"].items():
                request = inference_pb2.LoadAdapterRequest(
                    name=name, base_model=base_dir.name, path=path, tenant_id=tenant_id
                )
                await call(stub.LoadAdapter, request, timeout_s=300)
        yield {
            "url": stack.url,
            "grpc_addr": grpc_addr,
            "key": stack.key(TENANT),
            "tenant_id": tenant_id,
            "model": base_dir.name,  # a base model given as a directory is served by its name
            # api_stack hands its gateway a copy with inference_addr set; so do we
            "common": stack.common.model_copy(update={"inference_addr": grpc_addr}).model_dump(
                mode="json"
            ),
        }


async def serve_gateway_only(config: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
    """A second gateway, in this process, on the stack whose `common` settings are given."""
    common = CommonSettings(**config["common"])
    settings = GatewaySettings(grpc_port=0, port=0, shutdown_grace_s=1, common=common)
    async with running_patiently(serve_gateway, settings) as gateway:
        yield {"url": f"http://127.0.0.1:{gateway.http_port}"}


async def main() -> None:
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    config = json.loads(await stdin.readline())
    support.stack.running = running_patiently  # type: ignore[assignment]
    serve = serve_gateway_only if config.get("mode") == "gateway" else serve_stack
    async with asynccontextmanager(serve)(config) as info:
        workdir = Path(config["workdir"])
        (workdir / "ready.json.tmp").write_text(json.dumps(info))
        (workdir / "ready.json.tmp").rename(workdir / "ready.json")
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        eof = asyncio.ensure_future(stdin.read())  # the parent closed stdin, or died
        stopped = asyncio.ensure_future(stop.wait())
        await asyncio.wait({eof, stopped}, return_when=asyncio.FIRST_COMPLETED)


if __name__ == "__main__":
    asyncio.run(main())
