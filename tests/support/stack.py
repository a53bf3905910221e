"""An in-process stack for API tests: nats-server, the inference service on a tiny local
model (transformers engine), and the full gateway on a free HTTP port."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import REGISTRY

from services.datagen.server import serve as serve_datagen
from services.datagen.settings import DatagenSettings
from services.evaluator.server import serve as serve_evaluator
from services.evaluator.settings import EvaluatorSettings
from services.gateway.registry.db import Database
from services.gateway.registry.store import Registry
from services.gateway.server import serve as serve_gateway
from services.gateway.settings import GatewaySettings
from services.inference.server import serve as serve_inference
from services.inference.settings import InferenceSettings
from services.trainer.server import serve as serve_trainer
from services.trainer.settings import TrainerSettings
from support.inprocess import running
from support.tiny_model import build_tiny_model
from tests.conftest import NatsServer, free_port
from tuneloop_core import basemodels
from tuneloop_core.runtime import ServiceRuntime
from tuneloop_core.settings import CommonSettings

TINY = "tiny"


@dataclass
class ApiStack:
    url: str
    common: CommonSettings
    registry: Registry
    gateway: ServiceRuntime
    inference: ServiceRuntime
    inference_stack: AsyncExitStack
    nats: NatsServer
    inference_settings: InferenceSettings
    gateway_settings: GatewaySettings
    gateway_stack: AsyncExitStack

    def key(self, tenant: str) -> str:
        return self.registry.create_api_key(tenant)[0]

    async def restart_inference(self) -> None:
        """Start the inference service again on its port (after `inference_stack.aclose()`;
        with `api_stack(fixed_ports=True)`)."""
        assert self.inference_settings.grpc_port
        self.inference = await self.inference_stack.enter_async_context(
            running(serve_inference, self.inference_settings)
        )

    async def restart_gateway(self) -> None:
        """Stop the gateway and start it again on the same ports (with
        `api_stack(fixed_ports=True)`)."""
        assert self.gateway_settings.port and self.gateway_settings.grpc_port
        await self.gateway_stack.aclose()
        self.gateway = await self.gateway_stack.enter_async_context(
            running(serve_gateway, self.gateway_settings)
        )


@asynccontextmanager
async def api_stack(
    root: Path,
    *,
    trainer: bool = False,
    evaluator: bool = False,
    datagen: bool = False,
    fixed_ports: bool = False,
    models: dict[str, Path] | None = None,
    **inference_overrides: object,
) -> AsyncIterator[ApiStack]:
    """The stack on a tiny model (and `models`, name → directory); with `trainer`,
    `evaluator` and `datagen`, those services too (in-process); with `fixed_ports`, the
    gateway and the inference service listen on ports chosen up front, so a test can
    restart them."""
    nats = NatsServer(root / "jetstream")
    nats.start()
    try:
        data_dir = root / "data"
        common = CommonSettings(
            data_dir=data_dir,
            nats_url=nats.url,
            database_url=f"sqlite:///{data_dir / 'registry.db'}",
        )
        basemodels.register(TINY, str(build_tiny_model(root / "tiny")), data_dir)
        for name, path in (models or {}).items():  # more base models, served beside TINY
            basemodels.register(name, str(path), data_dir)
        overrides = {
            "engine": "transformers",
            "dtype": "float32",
            "shutdown_grace_s": 1,
            **inference_overrides,
        }
        inference_settings = InferenceSettings(
            grpc_port=free_port() if fixed_ports else 0,
            common=common,
            **overrides,  # type: ignore[arg-type]
        )
        async with AsyncExitStack() as outer:
            inner = await outer.enter_async_context(AsyncExitStack())
            # vLLM-CPU takes a minute or two to start on 2 cores.
            start_timeout_s = 300 if overrides["engine"] == "vllm" else 30
            inference = await inner.enter_async_context(
                running(serve_inference, inference_settings, start_timeout_s)
            )
            assert inference.grpc is not None
            addr = f"127.0.0.1:{inference.grpc.port}"
            # The gateway must know these before datagen, the trainer and the evaluator start.
            datagen_port, trainer_port, evaluator_port = free_port(), free_port(), free_port()
            gateway_settings = GatewaySettings(
                grpc_port=free_port() if fixed_ports else 0,
                port=free_port() if fixed_ports else 0,
                shutdown_grace_s=1,
                common=common.model_copy(
                    update={
                        "inference_addr": addr,
                        "datagen_addr": f"127.0.0.1:{datagen_port}",
                        "trainer_addr": f"127.0.0.1:{trainer_port}",
                        "evaluator_addr": f"127.0.0.1:{evaluator_port}",
                    }
                ),
            )
            gateway_stack = await outer.enter_async_context(AsyncExitStack())
            gateway = await gateway_stack.enter_async_context(
                running(serve_gateway, gateway_settings)
            )
            if trainer:
                assert gateway.grpc is not None
                trainer_common = common.model_copy(
                    update={"gateway_addr": f"127.0.0.1:{gateway.grpc.port}"}
                )
                trainer_settings = TrainerSettings(
                    grpc_port=trainer_port,
                    shutdown_grace_s=1,
                    control_poll_s=0.2,
                    common=trainer_common,
                )
                await outer.enter_async_context(running(serve_trainer, trainer_settings))
            if evaluator:
                assert gateway.grpc is not None
                evaluator_common = common.model_copy(
                    update={
                        "gateway_addr": f"127.0.0.1:{gateway.grpc.port}",
                        "inference_addr": addr,
                    }
                )
                evaluator_settings = EvaluatorSettings(
                    grpc_port=evaluator_port, shutdown_grace_s=1, common=evaluator_common
                )
                await outer.enter_async_context(running(serve_evaluator, evaluator_settings))
            if datagen:
                assert gateway.grpc is not None
                datagen_common = common.model_copy(
                    update={
                        "gateway_addr": f"127.0.0.1:{gateway.grpc.port}",
                        "gateway_url": f"http://127.0.0.1:{gateway.http_port}",
                        "inference_addr": addr,
                    }
                )
                datagen_settings = DatagenSettings(
                    grpc_port=datagen_port, shutdown_grace_s=1, common=datagen_common
                )
                await outer.enter_async_context(running(serve_datagen, datagen_settings))
            registry = Registry(Database(common.database_url))
            outer.callback(registry.db.close)
            yield ApiStack(
                url=f"http://127.0.0.1:{gateway.http_port}",
                common=common,
                registry=registry,
                gateway=gateway,
                inference=inference,
                inference_stack=inner,
                nats=nats,
                inference_settings=inference_settings,
                gateway_settings=gateway_settings,
                gateway_stack=gateway_stack,
            )
    finally:
        nats.stop()


def generate_calls() -> float:
    """Generate RPCs the in-process inference service has handled (whatever their
    outcome): a test reads it before and after a request refused in the gateway."""
    total = 0.0
    for metric in REGISTRY.collect():
        if metric.name == "tuneloop_rpc_requests":
            for sample in metric.samples:
                if sample.labels.get("method") == "Generate" and sample.name.endswith("_total"):
                    total += sample.value
    return total
