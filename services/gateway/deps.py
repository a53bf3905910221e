"""FastAPI dependencies: the gateway state and the tenant behind the API key."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool

from services.gateway.state import GatewayState
from tuneloop_core.errors import AuthenticationError
from tuneloop_core.registry.models import Tenant
from tuneloop_core.registry.store import Registry


def get_state(request: Request) -> GatewayState:
    state: GatewayState = request.app.state.gateway
    return state


StateDep = Annotated[GatewayState, Depends(get_state)]


def get_registry(state: StateDep) -> Registry:
    return state.registry


RegistryDep = Annotated[Registry, Depends(get_registry)]


async def authenticate(request: Request, registry: RegistryDep) -> Tenant:
    """The tenant of the `Authorization: Bearer <key>` header; 401 otherwise."""
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise AuthenticationError(
            "You didn't provide an API key. Send it as 'Authorization: Bearer <key>'.",
            code="missing_api_key",
        )
    return await run_in_threadpool(registry.authenticate, key.strip())


CurrentTenant = Annotated[Tenant, Depends(authenticate)]
