"""Importing, listing and deleting adapters trained elsewhere. No FastAPI here.

An archive is streamed into the tenant's files (capped), unpacked into a staging folder in
the artifact store (capped, every entry checked), checked as a LoRA adapter for the base,
and only then renamed into its place: a refused archive leaves nothing behind. The adapter
is then loaded on the inference service, recorded, and announced to every replica.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import shutil
from pathlib import Path
from typing import BinaryIO

from services.gateway.adapters import archive
from services.gateway.adapters.announce import ADDED, REMOVED, announce
from services.gateway.adapters.peft_check import AdapterFacts, check_adapter
from services.gateway.adapters.protocol import AdapterObject
from services.gateway.files.service import clean_filename
from services.gateway.ids import new_id
from services.gateway.registry.models import File, ImportedAdapter, Tenant
from services.gateway.served_models import unknown_model
from services.gateway.state import GatewayState
from tuneloop.inference.v1 import inference_pb2
from tuneloop_core import layout
from tuneloop_core.artifacts import StoredArtifact
from tuneloop_core.errors import (
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    PayloadTooLargeError,
    ServiceUnavailableError,
)
from tuneloop_core.grpc.client import call

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".zip")
PURPOSE = "adapter"


def adapter_view(record: ImportedAdapter) -> AdapterObject:
    meta = record.meta or {}
    return AdapterObject(
        id=record.name,
        created_at=record.created_at,
        base_model=record.base_model,
        file_id=record.file_id,
        rank=record.rank,
        target_modules=list(meta.get("target_modules", [])),
        trained_on=meta.get("trained_on") or None,
    )


def adapter_name(name: str | None, filename: str) -> str:
    """The given name, or the archive's name without its suffix; 400 unless valid."""
    if not name:
        stem = clean_filename(filename)
        for suffix in ARCHIVE_SUFFIXES:
            if stem.lower().endswith(suffix):
                stem = stem[: -len(suffix)]
                break
        name = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-._")
    if not NAME.fullmatch(name):
        raise InvalidRequestError(
            f"'{name}' is not a valid adapter name: 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit",
            param="name",
            code="invalid_name",
        )
    return name


async def _served(state: GatewayState, tenant: Tenant) -> inference_pb2.ListModelsResponse:
    try:
        return await call(
            state.clients.inference.ListModels,
            inference_pb2.ListModelsRequest(tenant_id=tenant.id),
            state.settings.rpc_timeout_s,
        )
    except ServiceUnavailableError as exc:
        raise ServiceUnavailableError(f"cannot import an adapter: {exc.message}") from exc


def _base_dir(state: GatewayState, info: inference_pb2.ModelInfo) -> Path | None:
    path = Path(info.path)
    path = path if path.is_absolute() else state.settings.common.data_dir / path
    return path if path.is_dir() else None  # a GGUF file, or another host's folder


async def _check_names(
    state: GatewayState, tenant: Tenant, name: str, base_model: str
) -> tuple[inference_pb2.ModelInfo, int]:
    """The base's info and the service's max rank; 400/409 for a bad base or a taken name."""
    served = await _served(state, tenant)
    bases = {m.name: m for m in served.models if m.kind == inference_pb2.MODEL_KIND_BASE}
    if base_model not in bases:
        raise unknown_model(base_model, "base_model", bases)
    if name in {m.name for m in served.models} or await state.registry.adapters.name_taken(name):
        raise ConflictError(
            f"The model name '{name}' is taken; choose another 'name'",
            param="name",
            code="model_name_taken",
        )
    return bases[base_model], served.max_lora_rank


def _store_archive(state: GatewayState, relpath: str, source: BinaryIO) -> StoredArtifact:
    max_mb = state.settings.adapter_max_archive_mb
    try:
        stored = state.artifacts.write(relpath, source, max_bytes=max_mb << 20)
    except PayloadTooLargeError:
        raise PayloadTooLargeError(
            f"The archive is larger than {max_mb} MiB (TUNELOOP_GATEWAY_ADAPTER_MAX_ARCHIVE_MB).",
            param="file",
        ) from None
    if stored.bytes == 0:
        state.artifacts.delete(relpath)
        raise InvalidRequestError("The archive is empty.", param="file", code="empty_file")
    return stored


def _limits(state: GatewayState) -> archive.Limits:
    settings = state.settings
    return archive.Limits(settings.adapter_max_unpacked_mb << 20, settings.adapter_max_files)


def unpack_and_check(
    state: GatewayState,
    unpack: archive.Unpacker,
    staging: Path,
    base_model: str,
    base_dir: Path | None,
    max_rank: int,
) -> AdapterFacts:
    """Unpack into the empty `staging` folder and check the adapter there."""
    unpack(staging, _limits(state))
    return check_adapter(staging, base_model, base_dir, max_rank)


def move_into_place(state: GatewayState, folder: Path, target_relpath: str) -> None:
    target = state.artifacts.path(target_relpath)
    if target.exists():  # left by an import that failed half-way (its name is reserved now)
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    folder.rename(target)  # one filesystem (the store): atomic


async def keep_and_serve(
    state: GatewayState,
    tenant: Tenant,
    name: str,
    base_model: str,
    unpack: archive.Unpacker,
    file: File | None = None,
) -> AdapterObject:
    """Check `unpack`'s adapter for `base_model`, keep it under `name`, load it, record it
    and announce it; on any failure nothing of it stays."""
    base, max_rank = await _check_names(state, tenant, name, base_model)
    relpath = layout.imported_adapter(tenant.id, name)
    staging = state.artifacts.path(layout.adapter_staging()) / secrets.token_hex(8)
    staging.mkdir(parents=True)
    try:
        facts = await asyncio.to_thread(
            unpack_and_check, state, unpack, staging, base_model, _base_dir(state, base), max_rank
        )
        record = ImportedAdapter(
            id=new_id("adapter"),
            tenant_id=tenant.id,
            name=name,
            base_model=base_model,
            path=layout.in_data_dir(relpath),
            file_id=file.id if file else None,
            rank=facts.rank,
            meta={"target_modules": facts.target_modules, "trained_on": facts.base_name},
        )
        # The unique name is reserved first: an import racing for it gets 409 and touches
        # neither this folder nor what the inference service serves under the name.
        await state.registry.adapters.add(record)
        loaded = False
        try:
            await asyncio.to_thread(move_into_place, state, facts.directory, relpath)
            if file is not None:
                await state.registry.add_file(file)
            await call(
                state.clients.inference.LoadAdapter,
                inference_pb2.LoadAdapterRequest(
                    name=name,
                    base_model=base_model,
                    path=record.path,
                    tenant_id=tenant.id,
                    origin=inference_pb2.ADAPTER_ORIGIN_IMPORTED,
                    file_id=record.file_id or "",
                ),
                state.settings.rpc_timeout_s,
            )
            loaded = True
            await announce(state.nats, record, ADDED)
        except BaseException:
            if loaded:
                await _unload(state, tenant.id, name)
            if file is not None:
                await _forget_file(state, tenant, file)
            await asyncio.to_thread(state.artifacts.delete, relpath)
            await state.registry.adapters.delete(tenant.id, name)
            raise
    finally:
        await asyncio.to_thread(shutil.rmtree, staging, True)
    return adapter_view(record)


async def _forget_file(state: GatewayState, tenant: Tenant, file: File) -> None:
    with contextlib.suppress(NotFoundError):
        await state.registry.delete_file(tenant.id, file.id)
    await asyncio.to_thread(state.artifacts.delete, file.path)


async def _unload(state: GatewayState, tenant_id: str, name: str) -> None:
    with contextlib.suppress(NotFoundError):  # not served (its base went away): done
        await call(
            state.clients.inference.UnloadAdapter,
            inference_pb2.UnloadAdapterRequest(name=name, tenant_id=tenant_id),
            state.settings.rpc_timeout_s,
        )


async def import_archive(
    state: GatewayState,
    tenant: Tenant,
    source: BinaryIO,
    filename: str,
    base_model: str,
    name: str | None,
) -> AdapterObject:
    """POST /v1/adapters: the uploaded archive becomes the model `name`."""
    name = adapter_name(name, filename)
    await _check_names(state, tenant, name, base_model)  # before reading a large upload
    file_id = new_id("file")
    relpath = layout.upload(tenant.id, file_id)
    stored = await asyncio.to_thread(_store_archive, state, relpath, source)
    file = File(
        id=file_id,
        tenant_id=tenant.id,
        filename=clean_filename(filename) or f"{name}.tar.gz",
        purpose=PURPOSE,
        bytes=stored.bytes,
        sha256=stored.sha256,
        path=stored.relpath,
    )
    archive_path = state.artifacts.path(relpath)
    try:
        return await keep_and_serve(
            state, tenant, name, base_model, archive.from_file(archive_path), file
        )
    except BaseException:
        await asyncio.to_thread(state.artifacts.delete, relpath)
        raise


async def list_adapters(state: GatewayState, tenant: Tenant) -> list[AdapterObject]:
    return [adapter_view(r) for r in await state.registry.adapters.of_tenant(tenant.id)]


async def get_adapter(state: GatewayState, tenant: Tenant, name: str) -> AdapterObject:
    return adapter_view(await state.registry.adapters.get(tenant.id, name))


async def delete_adapter(state: GatewayState, tenant_id: str, name: str) -> None:
    """Unload it everywhere and remove its folder; its uploaded archive stays a file of the
    tenant's (delete it with /v1/files), so it can be imported again."""
    record = await state.registry.adapters.get(tenant_id, name)
    await announce(state.nats, record, REMOVED)  # first: if NATS refuses, nothing changed
    await _unload(state, tenant_id, name)
    await state.registry.adapters.delete(tenant_id, name)
    relpath = str(Path(record.path).relative_to(layout.STORE))
    await asyncio.to_thread(state.artifacts.delete, relpath)


async def only_base(state: GatewayState, tenant: Tenant) -> str:
    """The one base model served (vLLM's load request names none); 400 when there are
    several, asking for `base_model_name`."""
    served = await _served(state, tenant)
    bases = [m.name for m in served.models if m.kind == inference_pb2.MODEL_KIND_BASE]
    if len(bases) != 1:
        raise InvalidRequestError(
            f"several base models are served ({', '.join(bases) or 'none'}); say which one the "
            "adapter is for in 'base_model_name'",
            param="base_model_name",
            code="base_model_required",
        )
    return bases[0]
