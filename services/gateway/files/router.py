"""HTTP routes of `/v1/files`."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, UploadFile
from fastapi.responses import StreamingResponse

from services.gateway.deps import CurrentTenant, StateDep
from services.gateway.files import service
from services.gateway.files.protocol import DeletedFile, FileList, FileObject

router = APIRouter(prefix="/files", tags=["files"])
CHUNK = 1 << 16


@router.post("")
async def upload_file(
    file: UploadFile, purpose: Annotated[str, Form()], state: StateDep, tenant: CurrentTenant
) -> FileObject:
    stored = await service.upload(state, tenant, file.file, file.filename or "", purpose)
    return service.file_view(stored)


@router.get("")
async def list_files(
    state: StateDep,
    tenant: CurrentTenant,
    purpose: str | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 10_000,
    after: str | None = None,
    order: Literal["asc", "desc"] = "desc",
) -> FileList:
    files, more = await service.page(state, tenant, purpose, limit, after, order)
    views = [service.file_view(f) for f in files]
    return FileList(
        data=views,
        first_id=views[0].id if views else None,
        last_id=views[-1].id if views else None,
        has_more=more,
    )


@router.get("/{file_id}")
async def get_file(file_id: str, state: StateDep, tenant: CurrentTenant) -> FileObject:
    file = await asyncio.to_thread(state.registry.get_file, tenant.id, file_id)
    return service.file_view(file)


@router.get("/{file_id}/content")
async def get_file_content(
    file_id: str, state: StateDep, tenant: CurrentTenant
) -> StreamingResponse:
    file = await asyncio.to_thread(state.registry.get_file, tenant.id, file_id)
    handle = await asyncio.to_thread(state.artifacts.open, file.path)

    def chunks() -> Iterator[bytes]:
        with handle:
            while block := handle.read(CHUNK):
                yield block

    disposition = f"attachment; filename*=UTF-8''{quote(file.filename)}"
    return StreamingResponse(
        chunks(),
        media_type="application/octet-stream",
        headers={"Content-Disposition": disposition, "Content-Length": str(file.bytes)},
    )


@router.delete("/{file_id}")
async def delete_file(file_id: str, state: StateDep, tenant: CurrentTenant) -> DeletedFile:
    await service.delete(state, tenant, file_id)
    return DeletedFile(id=file_id)
