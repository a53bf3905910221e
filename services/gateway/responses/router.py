"""HTTP routes of `/v1/responses`: create (SSE when `stream`), retrieve, delete, cancel (a
400: nothing runs in the background), and the input items of a stored response."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query

from services.gateway.deps import CurrentTenant, StateDep
from services.gateway.responses import service
from services.gateway.responses.protocol import (
    CreateResponseRequest,
    InputItemList,
    ResponseDeleted,
    ResponseObject,
)
from services.gateway.streaming import EventStreamResponse, sse_response

router = APIRouter(prefix="/responses", tags=["responses"])


@router.post("", response_model=None, summary="Create a model response")
async def create_response(
    body: CreateResponseRequest, state: StateDep, tenant: CurrentTenant
) -> ResponseObject | EventStreamResponse:
    if body.stream:
        events = await service.open_stream(state.clients, state.registry, tenant.id, body)
        return sse_response(events, event_names=True)
    return await service.create(state.clients, state.registry, tenant.id, body)


@router.get("/{response_id}", summary="Get a stored response")
async def get_response(response_id: str, state: StateDep, tenant: CurrentTenant) -> ResponseObject:
    return await service.retrieve(state.registry, tenant.id, response_id)


@router.delete("/{response_id}", summary="Delete a stored response")
async def delete_response(
    response_id: str, state: StateDep, tenant: CurrentTenant
) -> ResponseDeleted:
    return await service.delete(state.registry, tenant.id, response_id)


@router.post("/{response_id}/cancel", summary="Cancel a background response (there are none)")
async def cancel_response(
    response_id: str, state: StateDep, tenant: CurrentTenant
) -> ResponseObject:
    return await service.cancel(state.registry, tenant.id, response_id)


@router.get("/{response_id}/input_items", summary="List the items a response was given")
async def list_input_items(
    response_id: str,
    state: StateDep,
    tenant: CurrentTenant,
    limit: int = Query(20, ge=1, le=100),
    order: Literal["asc", "desc"] = "desc",
    after: str | None = None,
) -> InputItemList:
    return await service.input_items(state.registry, tenant.id, response_id, limit, order, after)
