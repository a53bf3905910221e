"""`/v1/fine_tuning/alpha/graders/run` and `/validate`: one grader checked, or run on one
model sample now by the evaluator (EvaluatorService.RunGrader). OpenAI's reply shape: the
reward, the sub-rewards of a multi grader, and metadata whose `errors` flags say what went
wrong with an item-level failure."""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format, struct_pb2

from services.gateway.evals import protocol as p
from services.gateway.evals.graders import checked_criteria
from services.gateway.registry.models import Tenant
from services.gateway.state import GatewayState
from tuneloop.evaluator.v1 import evals_pb2
from tuneloop_core.errors import ServiceUnavailableError
from tuneloop_core.grpc.client import call

ERROR_FLAGS = (
    "formula_parse_error",
    "invalid_variable_error",
    "model_grader_parse_error",
    "model_grader_refusal_error",
    "model_grader_server_error",
    "other_error",
    "python_grader_runtime_error",
    "python_grader_server_error",
    "sample_parse_error",
    "truncated_observation_error",
    "unresponsive_reward_error",
)
GRADER_PARAM = "grader"


async def validate(
    state: GatewayState, tenant: Tenant, req: p.GraderValidateRequest
) -> dict[str, Any]:
    await checked_criteria(state, tenant, [req.grader], None, sample=True, param=GRADER_PARAM)
    return {"grader": req.grader.model_dump(mode="json", exclude_none=True)}


def _errors(result: evals_pb2.GraderResult) -> dict[str, Any]:
    flags: dict[str, Any] = dict.fromkeys(ERROR_FLAGS, False)
    flags["model_grader_server_error_details"] = None
    flags["python_grader_runtime_error_details"] = None
    flags["python_grader_server_error_type"] = None
    if not result.error:
        return flags
    if result.type == "python":
        flags["python_grader_runtime_error"] = True
        flags["python_grader_runtime_error_details"] = result.error
    elif result.type in ("score_model", "label_model"):
        flags["model_grader_parse_error"] = True
        flags["model_grader_server_error_details"] = result.error
    elif result.type == "multi":
        flags["invalid_variable_error"] = True
        flags["other_error"] = True
    else:
        flags["other_error"] = True
    return flags


async def run(state: GatewayState, tenant: Tenant, req: p.GraderRunRequest) -> dict[str, Any]:
    (grader,) = await checked_criteria(
        state, tenant, [req.grader], None, sample=True, param=GRADER_PARAM
    )
    item, sample = struct_pb2.Struct(), struct_pb2.Struct()
    item.update(req.item or {})
    sample.update({"output_text": req.model_sample})
    request = evals_pb2.RunGraderRequest(
        tenant_id=tenant.id, grader=grader, item=item, sample=sample
    )
    try:
        # A python grader is bounded by its sandbox, a model grader by its max tokens.
        reply = await call(state.clients.evaluator.RunGrader, request, timeout_s=120)
    except ServiceUnavailableError as exc:
        raise ServiceUnavailableError(f"cannot run the grader: {exc.message}") from exc
    result = reply.result
    metadata = json_format.MessageToDict(result.metadata)
    model = metadata.get("model")
    return {
        "reward": result.score,
        "sub_rewards": dict(reply.sub_rewards),
        "metadata": {
            "name": result.name,
            "type": result.type,
            "errors": _errors(result),
            "execution_time": reply.execution_ms / 1000,
            "scores": {**dict(reply.sub_rewards), result.name: result.score},
            "token_usage": None,
            "sampled_model_name": model,
            "passed": result.passed,
            "error": result.error or None,
            "details": metadata,
        },
        "model_grader_token_usage_per_model": {},
    }
