"""Which models the inference service serves for a tenant (base models and its adapters)."""

from __future__ import annotations

from collections.abc import Iterable

from services.gateway.registry.models import Tenant
from services.gateway.state import GatewayState
from tuneloop.inference.v1 import inference_pb2
from tuneloop_core.errors import InvalidRequestError, NotFoundError, ServiceUnavailableError
from tuneloop_core.grpc.client import call


async def served(
    state: GatewayState, tenant: Tenant, purpose: str = "check the models"
) -> list[inference_pb2.ModelInfo]:
    """What the inference service serves for the tenant: base models (in its order) and the
    tenant's adapters. 503 naming `purpose` when it cannot be asked."""
    try:
        reply = await call(
            state.clients.inference.ListModels,
            inference_pb2.ListModelsRequest(tenant_id=tenant.id),
            state.settings.rpc_timeout_s,
        )
    except ServiceUnavailableError as exc:
        raise ServiceUnavailableError(f"cannot {purpose}: {exc.message}") from exc
    return list(reply.models)


async def served_model_names(state: GatewayState, tenant: Tenant) -> set[str]:
    return {m.name for m in await served(state, tenant)}


async def served_base_models(
    state: GatewayState, tenant: Tenant, purpose: str = "check the models"
) -> list[str]:
    """The base models, in the inference service's order."""
    return [
        m.name
        for m in await served(state, tenant, purpose)
        if m.kind == inference_pb2.MODEL_KIND_BASE
    ]


def unknown_model(name: str, param: str, available: Iterable[str]) -> InvalidRequestError:
    """400 `model_not_found`, listing what the tenant can use instead."""
    shown = ", ".join(sorted(available)) or "none"
    return InvalidRequestError(
        f"The model '{name}' does not exist; available: {shown}",
        param=param,
        code="model_not_found",
    )


async def require_served(state: GatewayState, tenant: Tenant, name: str, param: str) -> None:
    """400 `model_not_found` unless `name` is served for the tenant."""
    available = await served_model_names(state, tenant)
    if name not in available:
        raise unknown_model(name, param, available)


async def find_owned_model(
    state: GatewayState, tenant: Tenant, model: str
) -> inference_pb2.ModelInfo:
    """The base model or the tenant's own adapter named `model`; anything else is a 404, so
    another tenant's adapter looks exactly like one that does not exist."""
    for info in await served(state, tenant, "look up the model"):
        owned = info.kind == inference_pb2.MODEL_KIND_BASE or info.tenant_id == tenant.id
        if info.name == model and owned:
            return info
    raise NotFoundError(
        f"The model '{model}' does not exist", param="model", code="model_not_found"
    )
