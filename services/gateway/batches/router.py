"""HTTP routes of OpenAI's Batch API: `/v1/batches` (create, list), `/{batch_id}` and
`/{batch_id}/cancel`."""

from __future__ import annotations

from fastapi import APIRouter, Query

from services.gateway.batches import protocol as p
from services.gateway.batches import service
from services.gateway.deps import CurrentTenant, StateDep

router = APIRouter(prefix="/batches", tags=["batches"])


@router.post("", summary="Create a batch from a file of requests")
async def create_batch(
    body: p.CreateBatchRequest, state: StateDep, tenant: CurrentTenant
) -> p.BatchObject:
    return await service.create(state, tenant, body)


@router.get("", summary="List batches, newest first")
async def list_batches(
    state: StateDep,
    tenant: CurrentTenant,
    limit: int = Query(20, ge=1, le=100),
    after: str | None = None,
) -> p.BatchList:
    return await service.page(state, tenant, limit, after)


@router.get("/{batch_id}", summary="Get a batch: status, request counts, files")
async def get_batch(batch_id: str, state: StateDep, tenant: CurrentTenant) -> p.BatchObject:
    return await service.get(state, tenant, batch_id)


@router.post("/{batch_id}/cancel", summary="Cancel a batch (what it answered is kept)")
async def cancel_batch(batch_id: str, state: StateDep, tenant: CurrentTenant) -> p.BatchObject:
    return await service.cancel(state, tenant, batch_id)
