"""The evaluator process: workers taking evaluation and comparison jobs from the JOBS work
queue (any number of evaluator processes share it), and gRPC health."""

from __future__ import annotations

from services.evaluator.comparisons.worker import KIND as COMPARISON
from services.evaluator.comparisons.worker import ComparisonWorker
from services.evaluator.evaluation.worker import KIND as EVALUATION
from services.evaluator.evaluation.worker import EvaluationWorker
from services.evaluator.settings import EvaluatorSettings
from tuneloop.gateway.v1 import gateway_pb2_grpc
from tuneloop.inference.v1 import inference_pb2_grpc
from tuneloop_core import layout
from tuneloop_core.artifacts import ArtifactStore
from tuneloop_core.grpc.client import open_channel
from tuneloop_core.runtime import ServiceRuntime, worker_service


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


# Nothing synchronous to serve: gRPC carries only the health service.
serve = worker_service([], [], start_workers)
