"""Storing, listing and deleting files (no FastAPI here; blocking work runs in a thread)."""

from __future__ import annotations

import asyncio
from typing import BinaryIO, Literal

from services.gateway.files.protocol import UPLOADABLE, FileObject
from services.gateway.state import GatewayState
from tuneloop_core.errors import InvalidRequestError
from tuneloop_core.ids import new_id
from tuneloop_core.registry.models import File, Tenant


def file_view(file: File) -> FileObject:
    return FileObject(
        id=file.id,
        bytes=file.bytes,
        created_at=file.created_at,
        filename=file.filename,
        purpose=file.purpose,
    )


def _store(
    state: GatewayState, tenant: Tenant, source: BinaryIO, filename: str, purpose: str
) -> File:
    file_id = new_id("file")
    relpath = f"files/{tenant.id}/{file_id}"
    stored = state.artifacts.write(relpath, source, max_bytes=state.settings.max_upload_mb << 20)
    if stored.bytes == 0:
        state.artifacts.delete(relpath)
        raise InvalidRequestError("The file is empty.", param="file", code="empty_file")
    record = File(
        id=file_id,
        tenant_id=tenant.id,
        filename=filename,
        purpose=purpose,
        bytes=stored.bytes,
        sha256=stored.sha256,
        path=stored.relpath,
    )
    try:
        return state.registry.add_file(record)
    except Exception:
        state.artifacts.delete(relpath)  # nothing half-stored
        raise


async def upload(
    state: GatewayState, tenant: Tenant, source: BinaryIO, filename: str, purpose: str
) -> File:
    if purpose not in UPLOADABLE:
        raise InvalidRequestError(
            f"Invalid purpose '{purpose}'; expected one of: {', '.join(sorted(UPLOADABLE))}",
            param="purpose",
        )
    name = filename.replace("\\", "/").rsplit("/", 1)[-1].strip()
    if not name:
        raise InvalidRequestError("The file needs a name.", param="file")
    return await asyncio.to_thread(_store, state, tenant, source, name[:500], purpose)


def _page(
    state: GatewayState,
    tenant: Tenant,
    purpose: str | None,
    limit: int,
    after: str | None,
    order: Literal["asc", "desc"],
) -> tuple[list[File], bool]:
    files = state.registry.list_files(tenant.id, purpose)  # newest first
    if order == "asc":
        files.reverse()
    if after is not None:
        ids = [f.id for f in files]
        if after not in ids:
            raise InvalidRequestError(f"No such file for 'after': {after}", param="after")
        files = files[ids.index(after) + 1 :]
    return files[:limit], len(files) > limit


async def page(
    state: GatewayState,
    tenant: Tenant,
    purpose: str | None,
    limit: int,
    after: str | None,
    order: Literal["asc", "desc"],
) -> tuple[list[File], bool]:
    return await asyncio.to_thread(_page, state, tenant, purpose, limit, after, order)


async def delete(state: GatewayState, tenant: Tenant, file_id: str) -> None:
    file = await asyncio.to_thread(state.registry.delete_file, tenant.id, file_id)
    await asyncio.to_thread(state.artifacts.delete, file.path)
