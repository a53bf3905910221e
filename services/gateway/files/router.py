"""HTTP routes of `/v1/files`."""

from __future__ import annotations

import mimetypes
from collections.abc import Iterator
from pathlib import PurePath
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from starlette.datastructures import FormData, UploadFile
from starlette.requests import ClientDisconnect
from starlette.types import Message, Receive

from services.gateway.deps import CurrentTenant, StateDep
from services.gateway.files import service
from services.gateway.files.protocol import UPLOAD_PURPOSES, DeletedFile, FileList, FileObject
from tuneloop_core.errors import InvalidRequestError, PayloadTooLargeError

router = APIRouter(prefix="/files", tags=["files"])

READ_CHUNK_BYTES = 1 << 16
# Room in the body for multipart boundaries, part headers and the text fields (also the
# most any one text field may hold).
FORM_OVERHEAD_BYTES = 64 << 10
MEDIA_TYPES = {".jsonl": "application/jsonl"}  # what `mimetypes` does not know

# The form is read by hand (see upload_file), so its schema is spelled out for /docs.
UPLOAD_FORM: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file", "purpose"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "purpose": {"type": "string", "enum": sorted(UPLOAD_PURPOSES)},
                    },
                }
            }
        },
    }
}


@router.post("", openapi_extra=UPLOAD_FORM)
async def upload_file(request: Request, state: StateDep, tenant: CurrentTenant) -> FileObject:
    # Not declared as `UploadFile`/`Form` parameters: FastAPI would spool the whole body
    # before checking the key or the size. Here both come first.
    form = await _read_form(request, state.settings.max_upload_mb)
    try:
        file, purpose = form.get("file"), form.get("purpose")
        if not isinstance(file, UploadFile):
            raise InvalidRequestError(
                "Missing required parameter: 'file' (a file part of the form).", param="file"
            )
        if not isinstance(purpose, str):
            raise InvalidRequestError("Missing required parameter: 'purpose'.", param="purpose")
        return await service.upload(state, tenant, file.file, file.filename or "", purpose)
    finally:
        await form.close()


@router.get("")
async def list_files(
    state: StateDep,
    tenant: CurrentTenant,
    purpose: str | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 10_000,
    after: str | None = None,
    order: Literal["asc", "desc"] = "desc",
) -> FileList:
    return await service.page(state, tenant, purpose=purpose, limit=limit, after=after, order=order)


@router.get("/{file_id}")
async def retrieve_file(file_id: str, state: StateDep, tenant: CurrentTenant) -> FileObject:
    return await service.retrieve(state, tenant, file_id)


@router.get("/{file_id}/content", response_class=StreamingResponse)
async def file_content(file_id: str, state: StateDep, tenant: CurrentTenant) -> StreamingResponse:
    file, handle, size = await service.open_content(state, tenant, file_id)

    def chunks() -> Iterator[bytes]:  # Starlette iterates this in a worker thread
        with handle:
            while block := handle.read(READ_CHUNK_BYTES):
                yield block

    return StreamingResponse(
        chunks(),
        media_type=media_type(file.filename),
        headers={
            "Content-Length": str(size),
            "Content-Disposition": attachment(file.filename),
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.delete("/{file_id}")
async def delete_file(file_id: str, state: StateDep, tenant: CurrentTenant) -> DeletedFile:
    return await service.delete(state, tenant, file_id)


async def _read_form(request: Request, max_upload_mb: int) -> FormData:
    """The multipart form, its file spooled by Starlette (memory, then a temporary file
    past 1 MiB). A body longer than the upload limit allows is refused with 413 as soon as
    that is known — from Content-Length, or once that many bytes came — and the rest is
    read and discarded, so the client sees the answer rather than a reset connection."""
    max_body = (max_upload_mb << 20) + FORM_OVERHEAD_BYTES

    def too_large() -> PayloadTooLargeError:
        return PayloadTooLargeError(
            f"The file is larger than the upload limit of {max_upload_mb} MiB.", param="file"
        )

    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_body:
        await _discard_body(request.receive)
        raise too_large()
    received = 0

    async def bounded_receive() -> Message:
        nonlocal received
        message = await request.receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > max_body:
                if message.get("more_body", False):
                    await _discard_body(request.receive)
                raise too_large()
        return message

    try:
        return await Request(request.scope, bounded_receive).form(
            max_files=1, max_fields=16, max_part_size=FORM_OVERHEAD_BYTES
        )
    except ClientDisconnect:
        raise InvalidRequestError("The client disconnected during the upload.") from None


async def _discard_body(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return


def media_type(filename: str) -> str:
    """From the extension; application/octet-stream when unknown."""
    suffix = PurePath(filename).suffix.lower()
    guessed = mimetypes.guess_type(f"x{suffix}", strict=False)[0]
    return MEDIA_TYPES.get(suffix) or guessed or "application/octet-stream"


def attachment(filename: str) -> str:
    """Content-Disposition per RFC 6266: the exact name as UTF-8, and an ASCII stand-in
    for clients that read only `filename`."""
    fallback = "".join(
        ch if ch.isascii() and ch.isprintable() and ch not in '"\\' else "_" for ch in filename
    )
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"
