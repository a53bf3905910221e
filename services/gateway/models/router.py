"""HTTP routes of `/v1/models`."""

from __future__ import annotations

from fastapi import APIRouter

from services.gateway.deps import CurrentTenant, StateDep
from services.gateway.models import service
from services.gateway.models.protocol import DeletedModel, ModelList, ModelObject

router = APIRouter(tags=["models"])


@router.get("/models")
async def list_models(state: StateDep, tenant: CurrentTenant) -> ModelList:
    timeout = state.settings.rpc_timeout_s
    return ModelList(data=await service.list_models(state.clients, tenant.id, tenant.name, timeout))


@router.get("/models/{model_id:path}")
async def get_model(model_id: str, state: StateDep, tenant: CurrentTenant) -> ModelObject:
    timeout = state.settings.rpc_timeout_s
    return await service.get_model(state.clients, tenant.id, tenant.name, model_id, timeout)


@router.delete("/models/{model_id:path}")
async def delete_model(model_id: str, state: StateDep, tenant: CurrentTenant) -> DeletedModel:
    """Unload one of the tenant's adapters and remove its files from the artifact store."""
    timeout = state.settings.rpc_timeout_s
    await service.delete_adapter(state, tenant.id, tenant.name, model_id, timeout)
    return DeletedModel(id=model_id)
