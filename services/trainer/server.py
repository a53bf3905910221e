"""The trainer process: TrainerService over gRPC, and a worker taking fine-tuning jobs
from the JOBS work queue (any number of trainer processes share it)."""

from __future__ import annotations

import grpc.aio

from services.trainer.export.settings import ExportSettings
from services.trainer.export.worker import KIND as EXPORT_KIND
from services.trainer.export.worker import ExportWorker
from services.trainer.servicer import TrainerServicer
from services.trainer.settings import TrainerSettings
from services.trainer.worker import KIND, FineTuneWorker
from tuneloop.gateway.v1 import gateway_pb2_grpc
from tuneloop.trainer.v1 import trainer_pb2, trainer_pb2_grpc
from tuneloop_core.bus.worker import WorkerOptions
from tuneloop_core.grpc.client import open_channel
from tuneloop_core.runtime import ServiceRuntime, worker_service

SERVICE_NAME = trainer_pb2.DESCRIPTOR.services_by_name["TrainerService"].full_name


def _register(server: grpc.aio.Server) -> None:
    trainer_pb2_grpc.add_TrainerServiceServicer_to_server(TrainerServicer(), server)


def start_workers(runtime: ServiceRuntime, settings: TrainerSettings) -> None:
    channel = open_channel(settings.common.gateway_addr, patient=True)
    runtime.enter_async_callback(channel.close)
    gateway = gateway_pb2_grpc.GatewayServiceStub(channel)
    worker = FineTuneWorker(settings, runtime.js, gateway)
    options = WorkerOptions(
        ack_wait_s=settings.ack_wait_s,
        heartbeat_s=settings.heartbeat_s,
        max_deliver=settings.max_attempts,
    )
    runtime.start_worker(KIND, worker.handle, options)
    # Exports need the same heavy libraries as training, so trainer processes run them.
    exports = ExportWorker(settings.common.data_dir, ExportSettings(), runtime.js, gateway)
    runtime.start_worker(EXPORT_KIND, exports.handle, options)


serve = worker_service([_register], [SERVICE_NAME], start_workers)
