"""The routes every job endpoint has besides its own create: list, get, cancel, events."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from services.gateway.deps import CurrentTenant, StateDep
from services.gateway.jobs import service
from services.gateway.jobs.protocol import JobEventObject, JobObject, Page
from services.gateway.jobs.service import JobKind

Limit = Annotated[int, Query(ge=1, le=1000)]


def add_job_routes(router: APIRouter, kind: JobKind, *, get: bool = True) -> None:
    """Add `GET ""`, `GET /{job_id}`, `POST /{job_id}/cancel`, `GET /{job_id}/events`;
    `get=False` leaves `GET /{job_id}` to an endpoint that shows a richer object."""

    @router.get("", summary=f"List {kind.noun}s")
    async def list_jobs(
        state: StateDep, tenant: CurrentTenant, limit: Limit = 20, after: str | None = None
    ) -> Page[JobObject]:
        jobs, more = await service.page(state, tenant, kind, limit, after)
        return Page(data=[service.job_view(kind, j) for j in jobs], has_more=more)

    if get:

        @router.get("/{job_id}", summary=f"Get a {kind.noun}")
        async def get_job(job_id: str, state: StateDep, tenant: CurrentTenant) -> JobObject:
            return service.job_view(kind, await service.get(state, tenant, kind, job_id))

    @router.post("/{job_id}/cancel", summary=f"Cancel a {kind.noun}")
    async def cancel_job(job_id: str, state: StateDep, tenant: CurrentTenant) -> JobObject:
        return service.job_view(kind, await service.cancel(state, tenant, kind, job_id))

    @router.get("/{job_id}/events", summary=f"List the events of a {kind.noun}")
    async def list_events(
        job_id: str,
        state: StateDep,
        tenant: CurrentTenant,
        limit: Limit = 100,
        after: str | None = None,
    ) -> Page[JobEventObject]:
        rows, more = await service.events(state, tenant, kind, job_id, limit, after)
        return Page(data=[service.event_view(r) for r in rows], has_more=more)
