"""HTTP routes of `/v1/adapters`, and vLLM's `/v1/load_lora_adapter` and
`/v1/unload_lora_adapter` (admin keys only)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse
from starlette.datastructures import UploadFile

from services.gateway.adapters import archive, service
from services.gateway.adapters.protocol import (
    AdapterList,
    AdapterObject,
    DeletedAdapter,
    LoadLoraAdapterRequest,
    UnloadLoraAdapterRequest,
)
from services.gateway.deps import CurrentTenant, StateDep
from services.gateway.files.router import _read_form
from services.gateway.registry.models import Tenant
from services.gateway.state import GatewayState
from tuneloop_core.errors import InvalidRequestError, PayloadTooLargeError, PermissionDeniedError

router = APIRouter(tags=["adapters"])

UPLOAD_FORM: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file", "base_model"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "base_model": {"type": "string"},
                        "name": {"type": "string"},
                    },
                }
            }
        },
    }
}


@router.post("/adapters", openapi_extra=UPLOAD_FORM)
async def import_adapter(request: Request, state: StateDep, tenant: CurrentTenant) -> AdapterObject:
    """A PEFT adapter folder as .tar.gz/.tgz/.zip (`file`), the served `base_model` it was
    trained on and an optional `name` (default: the archive's name)."""
    max_mb = state.settings.adapter_max_archive_mb
    try:  # read by hand, as /v1/files does: the key and the size are checked first
        form = await _read_form(request, max_mb)
    except PayloadTooLargeError:
        raise PayloadTooLargeError(
            f"The archive is larger than {max_mb} MiB (TUNELOOP_GATEWAY_ADAPTER_MAX_ARCHIVE_MB).",
            param="file",
        ) from None
    try:
        file, base_model, name = form.get("file"), form.get("base_model"), form.get("name")
        if not isinstance(file, UploadFile):
            raise InvalidRequestError(
                "Missing required parameter: 'file' (the adapter archive).", param="file"
            )
        if not isinstance(base_model, str) or not base_model:
            raise InvalidRequestError(
                "Missing required parameter: 'base_model'.", param="base_model"
            )
        if name is not None and not isinstance(name, str):
            raise InvalidRequestError("'name' must be text.", param="name")
        return await service.import_archive(
            state, tenant, file.file, file.filename or "", base_model, name or None
        )
    finally:
        await form.close()


@router.get("/adapters")
async def list_adapters(state: StateDep, tenant: CurrentTenant) -> AdapterList:
    return AdapterList(data=await service.list_adapters(state, tenant))


@router.get("/adapters/{name}")
async def get_adapter(name: str, state: StateDep, tenant: CurrentTenant) -> AdapterObject:
    return await service.get_adapter(state, tenant, name)


@router.delete("/adapters/{name}")
async def delete_adapter(name: str, state: StateDep, tenant: CurrentTenant) -> DeletedAdapter:
    await service.delete_adapter(state, tenant.id, name)
    return DeletedAdapter(id=name)


def _admin_import_dir(state: GatewayState, tenant: Tenant) -> Path:
    if tenant.name not in state.settings.admin_tenants:
        raise PermissionDeniedError(
            "loading adapters from server paths needs an admin key (a tenant listed in "
            "TUNELOOP_GATEWAY_ADMIN_TENANTS); upload the adapter with POST /v1/adapters",
            code="admin_only",
        )
    if state.settings.adapter_import_dir is None:
        raise PermissionDeniedError(
            "loading adapters from server paths is off: set TUNELOOP_GATEWAY_ADAPTER_IMPORT_DIR "
            "to the folder they may come from, or upload with POST /v1/adapters",
            code="adapter_import_dir_unset",
        )
    return state.settings.adapter_import_dir.resolve()


@router.post("/load_lora_adapter", response_class=PlainTextResponse)
async def load_lora_adapter(
    body: LoadLoraAdapterRequest, state: StateDep, tenant: CurrentTenant
) -> str:
    """vLLM's route: serve the adapter in `lora_path` (a folder or an archive inside the
    import directory) as `lora_name`, with the same checks as an upload."""
    root = _admin_import_dir(state, tenant)
    path = (root / body.lora_path).resolve()
    if not path.is_relative_to(root) or not path.exists():
        raise InvalidRequestError(
            f"lora_path '{body.lora_path}' is not a folder or archive inside the import "
            "directory (TUNELOOP_GATEWAY_ADAPTER_IMPORT_DIR)",
            param="lora_path",
            code="invalid_lora_path",
        )
    name = service.adapter_name(body.lora_name, "")
    unpack = archive.from_dir(path) if path.is_dir() else archive.from_file(path)
    base = body.base_model_name or await service.only_base(state, tenant)
    await service.keep_and_serve(state, tenant, name, base, unpack)
    return f"Success: LoRA adapter '{name}' added successfully."


@router.post("/unload_lora_adapter", response_class=PlainTextResponse)
async def unload_lora_adapter(
    body: UnloadLoraAdapterRequest, state: StateDep, tenant: CurrentTenant
) -> str:
    _admin_import_dir(state, tenant)
    await service.delete_adapter(state, tenant.id, body.lora_name)
    return f"Success: LoRA adapter '{body.lora_name}' removed successfully."
