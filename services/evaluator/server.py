"""The evaluator process: workers taking evaluation, comparison and eval-run jobs from the
JOBS work queue (any number of evaluator processes share it), and EvaluatorService (one
grader now) and health over gRPC."""

from __future__ import annotations

import grpc.aio

from services.evaluator.comparisons.worker import KIND as COMPARISON
from services.evaluator.comparisons.worker import ComparisonWorker
from services.evaluator.evals.servicer import EvaluatorServicer
from services.evaluator.evals.worker import KIND as EVAL_RUN
from services.evaluator.evals.worker import EvalRunWorker
from services.evaluator.evaluation.worker import KIND as EVALUATION
from services.evaluator.evaluation.worker import EvaluationWorker
from services.evaluator.settings import EvaluatorSettings
from tuneloop.evaluator.v1 import evals_pb2, evals_pb2_grpc
from tuneloop.gateway.v1 import gateway_pb2_grpc
from tuneloop.inference.v1 import inference_pb2_grpc
from tuneloop_core import layout
from tuneloop_core.artifacts import ArtifactStore
from tuneloop_core.grpc.client import open_channel
from tuneloop_core.runtime import OnStarted, ServiceRuntime, worker_service

SERVICE_NAME = evals_pb2.DESCRIPTOR.services_by_name["EvaluatorService"].full_name


def start_workers(runtime: ServiceRuntime, settings: EvaluatorSettings) -> None:
    """Take evaluation and comparison jobs from the JOBS work queue for the life of the
    process; both ask the gateway about their jobs and the inference service for answers."""
    gateway = open_channel(settings.common.gateway_addr, patient=True)
    inference = open_channel(settings.common.inference_addr)
    runtime.enter_async_callback(gateway.close)
    runtime.enter_async_callback(inference.close)
    clients = (
        ArtifactStore(layout.store_root(settings.common.data_dir)),
        runtime.js,
        gateway_pb2_grpc.GatewayServiceStub(gateway),
        inference_pb2_grpc.InferenceServiceStub(inference),
    )
    runtime.start_worker(EVALUATION, EvaluationWorker(*clients).handle)
    runtime.start_worker(COMPARISON, ComparisonWorker(*clients).handle)
    runtime.start_worker(EVAL_RUN, EvalRunWorker(*clients).handle)


async def serve(
    settings: EvaluatorSettings,
    *,
    install_signals: bool = True,
    on_started: OnStarted | None = None,
) -> None:
    """Run the evaluator until stopped; its graders answer through the inference service."""
    inference = open_channel(settings.common.inference_addr)

    def register(server: grpc.aio.Server) -> None:
        servicer = EvaluatorServicer(inference_pb2_grpc.InferenceServiceStub(inference))
        evals_pb2_grpc.add_EvaluatorServiceServicer_to_server(servicer, server)

    try:
        await worker_service([register], [SERVICE_NAME], start_workers)(
            settings, install_signals=install_signals, on_started=on_started
        )
    finally:
        await inference.close()
