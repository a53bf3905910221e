"""gRPC channels from the gateway to every service, opened once per process."""

from __future__ import annotations

import asyncio
from types import TracebackType

import grpc

from tuneloop.datagen.v1 import datagen_pb2_grpc
from tuneloop.evaluator.v1 import evals_pb2_grpc
from tuneloop.inference.v1 import inference_pb2_grpc
from tuneloop.trainer.v1 import trainer_pb2_grpc
from tuneloop_core.grpc.client import check_health, open_channel


class ServiceClients:
    """One channel per service; stubs are cheap views over them."""

    def __init__(self, addrs: dict[str, str]):
        self.addrs = dict(addrs)
        self._channels: dict[str, grpc.aio.Channel] = {}

    def channel(self, service: str) -> grpc.aio.Channel:
        if service not in self._channels:
            self._channels[service] = open_channel(self.addrs[service])
        return self._channels[service]

    @property
    def inference(self) -> inference_pb2_grpc.InferenceServiceAsyncStub:
        return inference_pb2_grpc.InferenceServiceStub(self.channel("inference"))

    @property
    def datagen(self) -> datagen_pb2_grpc.DatagenServiceAsyncStub:
        return datagen_pb2_grpc.DatagenServiceStub(self.channel("datagen"))

    @property
    def evaluator(self) -> evals_pb2_grpc.EvaluatorServiceAsyncStub:
        return evals_pb2_grpc.EvaluatorServiceStub(self.channel("evaluator"))

    @property
    def trainer(self) -> trainer_pb2_grpc.TrainerServiceAsyncStub:
        return trainer_pb2_grpc.TrainerServiceStub(self.channel("trainer"))

    async def health(self, timeout_s: float) -> dict[str, bool]:
        """Standard gRPC health of every service but the gateway, probed concurrently."""
        names = [n for n in self.addrs if n != "gateway"]
        results = await asyncio.gather(*(check_health(self.addrs[n], timeout_s) for n in names))
        return dict(zip(names, results, strict=True))

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close(grace=None)
        self._channels.clear()

    async def __aenter__(self) -> ServiceClients:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
