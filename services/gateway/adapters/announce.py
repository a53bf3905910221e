"""Announcing an imported adapter on the ADAPTERS stream, so every inference replica (and
one that starts later) serves it, or stops serving it once deleted."""

from __future__ import annotations

import logging

import nats.errors
from nats.aio.client import Client

from services.gateway.registry.models import ImportedAdapter
from tuneloop.events.v1 import events_pb2
from tuneloop_core.bus import subjects
from tuneloop_core.bus.publish import MSG_ID_HEADER, TRANSIENT
from tuneloop_core.errors import ServiceUnavailableError

log = logging.getLogger(__name__)
PUBLISH_TIMEOUT_S = 5.0
ADDED = events_pb2.IMPORTED_ADAPTER_CHANGE_ADDED
REMOVED = events_pb2.IMPORTED_ADAPTER_CHANGE_REMOVED


async def announce(client: Client | None, record: ImportedAdapter, change: int) -> None:
    """Publish ImportedAdapterChanged; 503 when NATS does not take it (the caller undoes)."""
    if client is None:  # tests that run the HTTP app alone
        log.info("no NATS: %s not announced", record.name)
        return
    payload = events_pb2.ImportedAdapterChanged(
        id=record.id,
        name=record.name,
        base_model=record.base_model,
        path=record.path,
        tenant_id=record.tenant_id,
        file_id=record.file_id or "",
        change=change,  # type: ignore[arg-type]
    )
    try:
        await client.jetstream().publish(
            subjects.imported_adapter(record.id),
            payload.SerializeToString(),
            stream=subjects.STREAM_ADAPTERS,
            timeout=PUBLISH_TIMEOUT_S,
            headers={MSG_ID_HEADER: f"{record.id}:{change}"},
        )
    except (*TRANSIENT, nats.errors.Error) as exc:
        raise ServiceUnavailableError(
            f"cannot announce adapter '{record.name}' to the inference replicas: {exc}"
        ) from exc
