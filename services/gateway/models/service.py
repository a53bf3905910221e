"""Listing models through the inference service's ListModels (no FastAPI here)."""

from __future__ import annotations

from services.gateway.clients import ServiceClients
from services.gateway.models.protocol import ModelObject
from tuneloop.inference.v1 import inference_pb2
from tuneloop_core.errors import NotFoundError
from tuneloop_core.grpc.client import call


def model_from_pb(info: inference_pb2.ModelInfo, tenant_name: str) -> ModelObject:
    is_adapter = info.kind == inference_pb2.MODEL_KIND_ADAPTER
    return ModelObject(
        id=info.name,
        created=info.created_at,
        owned_by=tenant_name if is_adapter else "tuneloop",
        parent=info.parent or None,
        root=info.path or None,
        job_id=info.job_id or None,
        epoch=info.epoch or None,
        context_length=info.context_length or None,
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
