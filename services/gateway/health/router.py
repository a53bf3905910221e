"""`/healthz`: the process answers. `/readyz`: NATS, the registry and every service too."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from services.gateway.deps import StateDep
from tuneloop_core.errors import ServiceUnavailableError

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", response_model=None)
async def readyz(state: StateDep) -> dict[str, Any] | JSONResponse:
    checks: dict[str, bool] = {
        "nats": state.nats is not None and state.nats.is_connected,
        "database": await state.registry.ping(),
    }
    checks.update(await state.clients.health(state.settings.health_timeout_s))
    failing = sorted(name for name, ok in checks.items() if not ok)
    if failing:
        error = ServiceUnavailableError(f"not ready: {', '.join(failing)} unavailable")
        return JSONResponse({**error.envelope(), "checks": checks}, status_code=503)
    return {"status": "ready", "checks": checks}
