"""A tenant's files: store, list, read, delete. No FastAPI here; registry and disk work is
blocking, so it runs in a worker thread."""

from __future__ import annotations

import asyncio
import os
import unicodedata
from typing import BinaryIO, Literal

from services.gateway.files.protocol import UPLOAD_PURPOSES, DeletedFile, FileList, FileObject
from services.gateway.ids import new_id
from services.gateway.registry.models import File, Tenant
from services.gateway.state import GatewayState
from tuneloop_core import layout
from tuneloop_core.artifacts import StoredArtifact
from tuneloop_core.errors import InvalidRequestError, NotFoundError, PayloadTooLargeError

MAX_FILENAME_CHARS = 500  # the width of files.filename
MAX_ID_CHARS = 64  # the width of files.id


def file_view(file: File) -> FileObject:
    return FileObject(
        id=file.id,
        bytes=file.bytes,
        created_at=file.created_at,
        filename=file.filename,
        purpose=file.purpose,
    )


def clean_filename(raw: str) -> str:
    """The name without any client-side directories or control characters."""
    name = raw.replace("\\", "/").rsplit("/", 1)[-1]
    kept = "".join(ch for ch in name if unicodedata.category(ch) != "Cc")  # e.g. CR, LF, NUL
    return kept.strip()[:MAX_FILENAME_CHARS]


def plausible_id(file_id: str) -> bool:
    """False for what no file id can be (too long, NUL or other non-printing characters), so
    such a value never reaches the database, where e.g. PostgreSQL rejects a NUL."""
    return 0 < len(file_id) <= MAX_ID_CHARS and file_id.isascii() and file_id.isprintable()


def check_id(file_id: str) -> None:
    """An implausible id is simply not found, like the registry says of an unknown one."""
    if not plausible_id(file_id):
        raise NotFoundError(
            f"No such File object: {file_id[:MAX_ID_CHARS]!r}",
            param="file_id",
            code="file_not_found",
        )


def check_purpose(purpose: str) -> None:
    if purpose not in UPLOAD_PURPOSES:
        raise InvalidRequestError(
            f"Invalid purpose '{purpose}'. Expected one of: {', '.join(sorted(UPLOAD_PURPOSES))}.",
            param="purpose",
        )


def _write(state: GatewayState, relpath: str, source: BinaryIO) -> StoredArtifact:
    max_mb = state.settings.max_upload_mb
    try:
        stored = state.artifacts.write(relpath, source, max_bytes=max_mb << 20)
    except PayloadTooLargeError:  # the store has already removed the partial copy
        raise PayloadTooLargeError(
            f"The file is larger than the upload limit of {max_mb} MiB.", param="file"
        ) from None
    if stored.bytes == 0:
        state.artifacts.delete(relpath)
        raise InvalidRequestError("The file is empty.", param="file", code="empty_file")
    return stored


async def upload(
    state: GatewayState, tenant: Tenant, source: BinaryIO, filename: str, purpose: str
) -> FileObject:
    """Copy `source` into the artifact store (at most `max_upload_mb`) and register it."""
    check_purpose(purpose)
    name = clean_filename(filename)
    if not name:
        raise InvalidRequestError("The uploaded file has no filename.", param="file")
    file_id = new_id("file")
    relpath = layout.upload(tenant.id, file_id)
    stored = await asyncio.to_thread(_write, state, relpath, source)
    file = File(
        id=file_id,
        tenant_id=tenant.id,
        filename=name,
        purpose=purpose,
        bytes=stored.bytes,
        sha256=stored.sha256,
        path=stored.relpath,
    )
    try:
        return file_view(await state.registry.add_file(file))
    except BaseException:
        await asyncio.to_thread(state.artifacts.delete, relpath)  # no bytes without a row
        raise


async def page(
    state: GatewayState,
    tenant: Tenant,
    *,
    purpose: str | None,
    limit: int,
    after: str | None,
    order: Literal["asc", "desc"],
) -> FileList:
    if after is not None and not plausible_id(after):
        raise InvalidRequestError("'after' is not a file id.", param="after")
    files, has_more = await state.registry.page_files(
        tenant.id,
        limit=limit,
        purpose=purpose,
        after=after,
        newest_first=order == "desc",
    )
    views = [file_view(f) for f in files]
    return FileList(
        data=views,
        first_id=views[0].id if views else None,
        last_id=views[-1].id if views else None,
        has_more=has_more,
    )


async def _get(state: GatewayState, tenant: Tenant, file_id: str) -> File:
    """The tenant's file; another tenant's is not found, exactly like a missing one."""
    check_id(file_id)
    return await state.registry.get_file(tenant.id, file_id)


async def retrieve(state: GatewayState, tenant: Tenant, file_id: str) -> FileObject:
    return file_view(await _get(state, tenant, file_id))


def _open(state: GatewayState, path: str) -> tuple[BinaryIO, int]:
    handle = state.artifacts.open(path)
    try:
        return handle, os.fstat(handle.fileno()).st_size
    except BaseException:
        handle.close()
        raise


async def open_content(
    state: GatewayState, tenant: Tenant, file_id: str
) -> tuple[File, BinaryIO, int]:
    """The file, an open handle on its bytes (the caller closes it) and their count. Once
    open, the bytes stay readable even if the file is deleted meanwhile."""
    file = await _get(state, tenant, file_id)
    handle, size = await asyncio.to_thread(_open, state, file.path)
    return file, handle, size


async def delete(state: GatewayState, tenant: Tenant, file_id: str) -> DeletedFile:
    # The row goes first: a failure in between leaves unreachable bytes, never a row
    # pointing at nothing.
    check_id(file_id)
    file = await state.registry.delete_file(tenant.id, file_id)
    await asyncio.to_thread(state.artifacts.delete, file.path)
    return DeletedFile(id=file_id)


async def input_file(state: GatewayState, tenant: Tenant, file_id: str, param: str) -> File:
    """A file a request names as a job's input: a 400 naming `param` when the tenant has
    no such file (the request is wrong, not the URL)."""
    try:
        return await state.registry.get_file(tenant.id, file_id)
    except NotFoundError:
        raise InvalidRequestError(
            f"File '{file_id}' does not exist", param=param, code="file_not_found"
        ) from None
