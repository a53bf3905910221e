"""API keys checked once per few seconds instead of once per request.

Every request names its key; looking it up in the registry costs a database query on the
registry's thread pool. `ApiKeyCache` keeps the tenant of each key that passed, keyed by the
key's SHA-256 (never the key itself), for `ttl_s` seconds: a key revoked or deleted in the
meantime (by the CLI, another gateway, the console) stops working within that time. Keys
that fail are never cached, so a key that is created is usable at once. Used only from the
event loop, so the cache needs no lock."""

from __future__ import annotations

import time

from cachetools import TTLCache

from services.gateway.registry.aio import AsyncRegistry
from services.gateway.registry.models import Tenant
from services.gateway.registry.store import hash_key

# Distinct keys remembered at once; beyond that the least recently used is looked up again.
MAX_KEYS = 10_000


class ApiKeyCache:
    """The tenant behind an API key, from the registry at most once per `ttl_s` seconds
    (0 = every request asks the registry)."""

    def __init__(self, ttl_s: float, max_keys: int = MAX_KEYS):
        self.ttl_s = ttl_s
        self._tenants: TTLCache[str, Tenant] | None = (
            TTLCache(max_keys, ttl_s, timer=time.monotonic) if ttl_s > 0 else None
        )

    async def tenant(self, registry: AsyncRegistry, plaintext: str) -> Tenant:
        """The tenant owning the active key `plaintext`; AuthenticationError otherwise."""
        if self._tenants is None:
            return await registry.authenticate(plaintext)
        digest = hash_key(plaintext)
        tenant = self._tenants.get(digest)
        if tenant is None:
            tenant = await registry.authenticate(plaintext)  # raises for unknown/revoked keys
            self._tenants[digest] = tenant
        return tenant

    def cached(self, plaintext: str) -> bool:
        """Whether `plaintext`'s tenant is held now (for tests and diagnostics)."""
        return self._tenants is not None and hash_key(plaintext) in self._tenants
