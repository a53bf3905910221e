"""Hot-loading: every checkpoint a training job announces becomes a servable model name.

Each inference process reads the fine-tune events from the start of the EVENTS stream with
its own ordered consumer, so a restarted (or an additional) replica loads every adapter
that still exists on disk, then keeps up with new checkpoints as they are saved.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy

from tuneloop.common.v1 import common_pb2
from tuneloop.events.v1 import events_pb2
from tuneloop.inference.v1 import inference_pb2
from tuneloop_core.bus import subjects
from tuneloop_core.errors import TuneloopError

log = logging.getLogger(__name__)

# events.fine_tune.<job_id>
CHECKPOINT_SUBJECT = f"events.{subjects.kind_token(common_pb2.JOB_KIND_FINE_TUNE)}.*"


# Loads one adapter (the servicer's LoadAdapter without a gRPC context).
AdapterLoaderFn = Callable[[inference_pb2.LoadAdapterRequest], Awaitable[object]]


def load_request(
    saved: events_pb2.CheckpointSaved, job_id: str
) -> inference_pb2.LoadAdapterRequest:
    return inference_pb2.LoadAdapterRequest(
        name=saved.model_name,
        base_model=saved.base_model,
        path=saved.path,
        tenant_id=saved.tenant_id,
        job_id=job_id,
        epoch=saved.epoch,
    )


async def run_hotloader(
    js: JetStreamContext,
    load: AdapterLoaderFn,
    data_dir: Path,
    stop: asyncio.Event,
) -> None:
    """Load every announced checkpoint whose files still exist, until `stop` is set."""

    async def on_message(msg: Msg) -> None:
        try:
            event = events_pb2.JobEvent.FromString(msg.data)
        except Exception:
            log.warning("undecodable event on %s", msg.subject)
            return
        if event.WhichOneof("payload") != "checkpoint_saved":
            return
        saved = event.checkpoint_saved
        path = Path(saved.path) if Path(saved.path).is_absolute() else data_dir / saved.path
        if not path.is_dir():
            log.info("skipping %s: %s no longer exists", saved.model_name, path)
            return
        try:
            await load(load_request(saved, event.job_id))
            log.info("hot-loaded %s", saved.model_name)
        except TuneloopError as exc:
            log.warning("could not load %s: %s", saved.model_name, exc.message)

    subscription = await js.subscribe(
        CHECKPOINT_SUBJECT,
        stream=subjects.STREAM_EVENTS,
        ordered_consumer=True,
        deliver_policy=DeliverPolicy.ALL,
        cb=on_message,
    )
    try:
        await stop.wait()
    finally:
        await subscription.unsubscribe()
