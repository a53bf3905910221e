"""Imported adapters (trained elsewhere, validated by the gateway's /v1/adapters): each
inference replica follows the ADAPTERS stream from its start, so it serves every import
that still exists (after a restart too) and drops the deleted ones, as they are announced.

The gateway also loads an import through LoadAdapter on the replica it talks to (to answer
the upload with the outcome); that replica then sees the announcement of an adapter it
already serves from the same directory and leaves it alone.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from nats.aio.msg import Msg
from nats.js import JetStreamContext

from services.inference.hotload import follow
from services.inference.servicer import InferenceServicer
from tuneloop.events.v1 import events_pb2
from tuneloop.inference.v1 import inference_pb2
from tuneloop_core.bus import subjects
from tuneloop_core.errors import NotFoundError, TuneloopError

log = logging.getLogger(__name__)


def load_request(change: events_pb2.ImportedAdapterChanged) -> inference_pb2.LoadAdapterRequest:
    return inference_pb2.LoadAdapterRequest(
        name=change.name,
        base_model=change.base_model,
        path=change.path,
        tenant_id=change.tenant_id,
        origin=inference_pb2.ADAPTER_ORIGIN_IMPORTED,
        file_id=change.file_id,
    )


def _serves(servicer: InferenceServicer, change: events_pb2.ImportedAdapterChanged) -> bool:
    """True when this replica already serves this import from the same directory."""
    try:
        served = servicer.catalog.resolve(change.name, change.tenant_id)
    except NotFoundError:
        return False
    return served.adapter is not None and served.info.path == change.path


async def apply_change(
    servicer: InferenceServicer, data_dir: Path, change: events_pb2.ImportedAdapterChanged
) -> None:
    """Serve an added import (whose files still exist), or stop serving a removed one."""
    if change.change == events_pb2.IMPORTED_ADAPTER_CHANGE_REMOVED:
        try:
            await servicer.unload(change.name, change.tenant_id)
            log.info("unloaded imported adapter %s", change.name)
        except NotFoundError:
            pass  # not served here (never loaded, or its base is gone)
        return
    if change.change != events_pb2.IMPORTED_ADAPTER_CHANGE_ADDED or _serves(servicer, change):
        return
    path = Path(change.path) if Path(change.path).is_absolute() else data_dir / change.path
    if not path.is_dir():
        log.info("skipping imported %s: %s no longer exists", change.name, path)
        return
    try:
        await servicer.load_adapter(load_request(change))
        log.info("loaded imported adapter %s", change.name)
    except TuneloopError as exc:
        log.warning("could not load imported adapter %s: %s", change.name, exc.message)


async def run_import_replay(
    js: JetStreamContext,
    servicer: InferenceServicer,
    data_dir: Path,
    stop: asyncio.Event,
    watch_s: float = 5.0,
) -> None:
    """Follow the imported adapters' announcements until `stop` is set."""

    async def on_message(msg: Msg) -> None:
        try:
            change = events_pb2.ImportedAdapterChanged.FromString(msg.data)
        except Exception:
            log.warning("undecodable adapter announcement on %s", msg.subject)
            return
        await apply_change(servicer, data_dir, change)

    await follow(
        js, subjects.IMPORTED_ADAPTERS, subjects.STREAM_ADAPTERS, on_message, stop, watch_s
    )
