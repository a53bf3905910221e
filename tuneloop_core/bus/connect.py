"""Connecting to NATS with reconnects that outlive a server restart."""

from __future__ import annotations

import asyncio
import logging

import nats
from nats.aio.client import Client

from tuneloop_core.bus.streams import ensure_streams
from tuneloop_core.errors import ServiceUnavailableError

log = logging.getLogger(__name__)


async def connect(
    url: str, name: str, *, connect_timeout_s: float = 5.0, first_connect_timeout_s: float = 15.0
) -> Client:
    """Connect, keep reconnecting forever after a drop, and make sure the streams exist."""

    client: Client | None = None

    async def on_disconnect() -> None:
        if client is not None and not (client.is_closed or client.is_draining):
            log.warning("NATS disconnected; reconnecting")

    async def on_reconnect() -> None:
        log.info("NATS reconnected")

    try:
        # nats-py applies max_reconnect_attempts=-1 to the first connection too, so bound
        # it here: a process that cannot reach NATS at start fails (and is restarted).
        connecting = nats.connect(
            url,
            name=name,
            connect_timeout=connect_timeout_s,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
            drain_timeout=5,  # seconds; bounds shutdown
            allow_reconnect=True,
            disconnected_cb=on_disconnect,
            reconnected_cb=on_reconnect,
        )
        client = await asyncio.wait_for(connecting, first_connect_timeout_s)
    except TimeoutError as exc:
        raise ServiceUnavailableError(
            f"cannot reach NATS at {url} within {first_connect_timeout_s:.0f} s"
        ) from exc
    except Exception as exc:  # nats raises several unrelated types on connect
        raise ServiceUnavailableError(f"cannot reach NATS at {url}: {exc}") from exc
    await ensure_streams(client.jetstream())
    return client
