"""The evaluator process: EvaluatorService over gRPC, and workers taking evaluation and
comparison jobs from the JOBS work queue (any number of evaluator processes share it)."""

from __future__ import annotations

import grpc.aio

from services.evaluator.comparisons.worker import start_comparison_worker
from services.evaluator.evaluation.worker import start_evaluation_worker
from services.evaluator.servicer import EvaluatorServicer
from services.evaluator.settings import EvaluatorSettings
from tuneloop.evaluator.v1 import evaluator_pb2, evaluator_pb2_grpc
from tuneloop_core.runtime import OnStarted, ServiceRuntime

SERVICE_NAME = evaluator_pb2.DESCRIPTOR.services_by_name["EvaluatorService"].full_name


def _register(server: grpc.aio.Server) -> None:
    evaluator_pb2_grpc.add_EvaluatorServiceServicer_to_server(EvaluatorServicer(), server)


async def serve(
    settings: EvaluatorSettings,
    *,
    install_signals: bool = True,
    on_started: OnStarted | None = None,
) -> None:
    async with ServiceRuntime(settings, install_signals=install_signals) as runtime:
        await runtime.connect_nats()
        await runtime.start_grpc([_register], [SERVICE_NAME])
        start_evaluation_worker(runtime, settings)
        start_comparison_worker(runtime, settings)
        if on_started is not None:
            on_started(runtime)
        await runtime.wait()
