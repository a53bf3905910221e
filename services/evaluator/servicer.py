"""EvaluatorService over gRPC: synchronous scoring of prediction/reference pairs."""

from __future__ import annotations

import asyncio

import grpc.aio

from services.evaluator.metrics import score
from tuneloop.evaluator.v1 import evaluator_pb2, evaluator_pb2_grpc
from tuneloop_core.errors import InvalidRequestError


class EvaluatorServicer(evaluator_pb2_grpc.EvaluatorServiceServicer):
    async def ComputeMetrics(
        self,
        request: evaluator_pb2.ComputeMetricsRequest,
        context: grpc.aio.ServicerContext[
            evaluator_pb2.ComputeMetricsRequest, evaluator_pb2.ComputeMetricsResponse
        ],
    ) -> evaluator_pb2.ComputeMetricsResponse:
        language = request.language or "auto"
        if language not in ("auto", "zh", "en"):
            raise InvalidRequestError(f"unknown language {language!r}", param="language")
        results = await asyncio.to_thread(
            score,
            [p.prediction for p in request.pairs],
            [p.reference for p in request.pairs],
            list(request.metrics),
            language=language,  # type: ignore[arg-type]
        )
        return evaluator_pb2.ComputeMetricsResponse(
            values={name: r.corpus for name, r in results.items()}
        )
