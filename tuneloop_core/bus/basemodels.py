"""Announcing a base model installed or removed, so a running inference service serves (or
stops serving) it at once rather than at its next rescan of the models directory."""

from __future__ import annotations

import asyncio
import contextlib

import nats

from tuneloop.events.v1 import events_pb2
from tuneloop_core.bus import subjects

ADDED = events_pb2.BASE_MODEL_CHANGE_ADDED
REMOVED = events_pb2.BASE_MODEL_CHANGE_REMOVED


async def _quiet(exc: Exception) -> None:
    return None


async def announce(
    nats_url: str, name: str, change: events_pb2.BaseModelChange.ValueType, timeout_s: float = 2.0
) -> str | None:
    """Publish BaseModelChanged on `models.base`; None once NATS has it, else why not (a
    stack that is not running is no error: the service reads the directory when it starts)."""
    payload = events_pb2.BaseModelChanged(name=name, change=change).SerializeToString()
    try:
        # nats-py may keep retrying a refused first connection: bound it here.
        connecting = nats.connect(
            nats_url,
            name="tuneloop-cli",
            connect_timeout=timeout_s,
            allow_reconnect=False,
            max_reconnect_attempts=0,
            error_cb=_quiet,  # the reason is returned, not logged as a traceback
        )
        client = await asyncio.wait_for(connecting, timeout_s)
    except TimeoutError:
        return f"cannot reach NATS at {nats_url} within {timeout_s:.0f} s"
    except Exception as exc:  # nats raises several unrelated types on connect
        return f"cannot reach NATS at {nats_url}: {exc or type(exc).__name__}"
    try:
        await client.publish(subjects.BASE_MODELS, payload)
        await client.flush(timeout=max(1, int(timeout_s)))
    except Exception as exc:
        return f"cannot publish on NATS at {nats_url}: {exc or type(exc).__name__}"
    finally:
        with contextlib.suppress(Exception):
            await client.close()
    return None


def announce_sync(
    nats_url: str, name: str, change: events_pb2.BaseModelChange.ValueType, timeout_s: float = 2.0
) -> str | None:
    """`announce` for synchronous callers (the CLI)."""
    return asyncio.run(announce(nats_url, name, change, timeout_s))
