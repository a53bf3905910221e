"""Everything a request handler may need, built once per process and injected."""

from __future__ import annotations

from dataclasses import dataclass, field

from nats.aio.client import Client

from services.gateway.clients import ServiceClients
from services.gateway.key_cache import ApiKeyCache
from services.gateway.registry.aio import AsyncRegistry
from services.gateway.settings import GatewaySettings
from tuneloop_core.artifacts import ArtifactStore


@dataclass
class GatewayState:
    settings: GatewaySettings
    registry: AsyncRegistry  # awaited; `registry.sync` for plain calls (tests, CLI)
    artifacts: ArtifactStore
    clients: ServiceClients
    nats: Client | None = None  # None only in tests that exercise HTTP alone
    api_keys: ApiKeyCache = field(init=False)  # from settings.api_key_cache_s

    def __post_init__(self) -> None:
        self.api_keys = ApiKeyCache(self.settings.api_key_cache_s)
