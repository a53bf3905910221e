"""FastAPI dependencies: the gateway state and the tenant behind the API key."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.gateway.registry.aio import AsyncRegistry
from services.gateway.registry.models import ApiKey, Tenant
from services.gateway.state import GatewayState
from tuneloop_core.errors import AuthenticationError


def get_state(request: Request) -> GatewayState:
    state: GatewayState = request.app.state.gateway
    return state


StateDep = Annotated[GatewayState, Depends(get_state)]


def get_registry(state: StateDep) -> AsyncRegistry:
    return state.registry


RegistryDep = Annotated[AsyncRegistry, Depends(get_registry)]


def bearer_key(request: Request) -> str:
    """The key of the `Authorization: Bearer <key>` header; 401 when there is none."""
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise AuthenticationError(
            "You didn't provide an API key. Send it as 'Authorization: Bearer <key>'.",
            code="missing_api_key",
        )
    return key.strip()


async def authenticate(request: Request, state: StateDep) -> Tenant:
    """The tenant of the `Authorization: Bearer <key>` header; 401 otherwise (a key that
    passed is trusted for `api_key_cache_s` seconds, see key_cache.py)."""
    return await state.api_keys.tenant(state.registry, bearer_key(request))


CurrentTenant = Annotated[Tenant, Depends(authenticate)]


async def current_key(request: Request, registry: RegistryDep, _: CurrentTenant) -> ApiKey:
    """The record of the request's API key, for what is counted per key (votes)."""
    return await registry.api_key(bearer_key(request))


CurrentKey = Annotated[ApiKey, Depends(current_key)]
