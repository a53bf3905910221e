"""EvaluatorService over gRPC: one grader on one sample, now (the gateway's
`POST /v1/fine_tuning/alpha/graders/run`)."""

from __future__ import annotations

import time
from typing import Any

from services.evaluator.evals.worker import given_sample
from services.evaluator.graders.grade import Grader, struct_dict
from tuneloop.evaluator.v1 import evals_pb2, evals_pb2_grpc
from tuneloop.inference.v1 import inference_pb2_grpc
from tuneloop_core.eval_rows import plain
from tuneloop_core.jobspecs.eval_run import check_criteria


class EvaluatorServicer(evals_pb2_grpc.EvaluatorServiceServicer):
    def __init__(self, inference: inference_pb2_grpc.InferenceServiceAsyncStub):
        self.inference = inference

    async def RunGrader(
        self, request: evals_pb2.RunGraderRequest, context: Any
    ) -> evals_pb2.RunGraderResponse:
        check_criteria([request.grader], None, sample=True, param="grader")
        item = plain(struct_dict(request.item))
        sample = given_sample(plain(struct_dict(request.sample)))
        start = time.perf_counter()
        grade = await Grader(self.inference, request.tenant_id).grade(request.grader, item, sample)
        return evals_pb2.RunGraderResponse(
            result=grade.to_pb(),
            sub_rewards=grade.sub_scores,
            execution_ms=(time.perf_counter() - start) * 1000,
        )
