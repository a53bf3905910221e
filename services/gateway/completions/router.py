"""HTTP route of `/v1/completions`."""

from __future__ import annotations

from fastapi import APIRouter

from services.gateway.completions import service
from services.gateway.completions.protocol import Completion, CompletionRequest
from services.gateway.deps import CurrentTenant, StateDep
from services.gateway.streaming import EventStreamResponse, sse_response

router = APIRouter(tags=["completions"])


@router.post("/completions", response_model=None)
async def create_completion(
    body: CompletionRequest, state: StateDep, tenant: CurrentTenant
) -> Completion | EventStreamResponse:
    if body.stream:
        return sse_response(await service.open_stream(state.clients, body, tenant.id))
    return await service.complete(state.clients, body, tenant.id)
