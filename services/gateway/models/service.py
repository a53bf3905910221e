"""Listing models through the inference service's ListModels (no FastAPI here)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Literal

from services.gateway.adapters import service as adapters
from services.gateway.clients import ServiceClients
from services.gateway.models.protocol import ModelObject
from services.gateway.state import GatewayState
from tuneloop.inference.v1 import inference_pb2
from tuneloop_core.errors import ConflictError, NotFoundError
from tuneloop_core.grpc.client import call

ORIGINS: dict[int, Literal["trained", "imported"]] = {
    inference_pb2.ADAPTER_ORIGIN_UNSPECIFIED: "trained",
    inference_pb2.ADAPTER_ORIGIN_TRAINED: "trained",
    inference_pb2.ADAPTER_ORIGIN_IMPORTED: "imported",
}
KINDS: dict[int, Literal["base", "adapter", "embedding"]] = {
    inference_pb2.MODEL_KIND_BASE: "base",
    inference_pb2.MODEL_KIND_ADAPTER: "adapter",
    inference_pb2.MODEL_KIND_EMBEDDING: "embedding",
}


def model_from_pb(info: inference_pb2.ModelInfo, tenant_name: str) -> ModelObject:
    is_adapter = info.kind == inference_pb2.MODEL_KIND_ADAPTER
    return ModelObject(
        id=info.name,
        created=info.created_at,
        owned_by=tenant_name if is_adapter else "tuneloop",
        kind=KINDS.get(info.kind),
        parent=info.parent or None,
        root=info.path or None,
        job_id=info.job_id or None,
        epoch=info.epoch or None,
        context_length=info.context_length or None,
        origin=ORIGINS.get(info.origin) if is_adapter else None,
        file_id=info.file_id or None,
    )


async def list_models(
    clients: ServiceClients, tenant_id: str, tenant_name: str, timeout_s: float
) -> list[ModelObject]:
    reply = await call(
        clients.inference.ListModels,
        inference_pb2.ListModelsRequest(tenant_id=tenant_id),
        timeout_s,
    )
    return [model_from_pb(m, tenant_name) for m in reply.models]


async def get_model(
    clients: ServiceClients, tenant_id: str, tenant_name: str, model_id: str, timeout_s: float
) -> ModelObject:
    for model in await list_models(clients, tenant_id, tenant_name, timeout_s):
        if model.id == model_id:
            return model
    raise NotFoundError(
        f"The model '{model_id}' does not exist", param="model", code="model_not_found"
    )


async def delete_adapter(
    state: GatewayState, tenant_id: str, tenant_name: str, model_id: str, timeout_s: float
) -> None:
    """Unload the adapter; delete its directory when it lives in the artifact store (an
    adapter registered from elsewhere is only unloaded)."""
    model = await get_model(state.clients, tenant_id, tenant_name, model_id, timeout_s)
    if model.parent is None:
        raise ConflictError("base models cannot be deleted", param="model", code="base_model")
    if model.origin == "imported":  # its record and the other replicas must know too
        await adapters.delete_adapter(state, tenant_id, model_id)
        return
    await call(
        state.clients.inference.UnloadAdapter,
        inference_pb2.UnloadAdapterRequest(name=model_id, tenant_id=tenant_id),
        timeout_s,
    )
    if model.root:
        root = Path(model.root)
        path = root if root.is_absolute() else state.settings.common.data_dir / root
        if path.resolve().is_relative_to(state.artifacts.root):
            await asyncio.to_thread(
                state.artifacts.delete, str(path.resolve().relative_to(state.artifacts.root))
            )
