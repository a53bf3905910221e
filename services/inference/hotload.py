"""Hot-loading: every checkpoint a training job announces becomes a servable model name.

Each inference process reads the fine-tune events from the start of the EVENTS stream with
its own ordered consumer, so a restarted (or an additional) replica loads every adapter
that still exists on disk, then keeps up with new checkpoints as they are saved.

An ordered consumer is ephemeral: a NATS restart drops it, and nats-py's own recovery
gives up if it fires while the server is still down. A watchdog checks the consumer every
few seconds and, once NATS answers that it is gone, subscribes again after the last event
seen, so no checkpoint announced meanwhile is missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

import nats.errors
import nats.js.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy

from tuneloop.common.v1 import common_pb2
from tuneloop.events.v1 import events_pb2
from tuneloop.inference.v1 import inference_pb2
from tuneloop_core.bus import subjects
from tuneloop_core.errors import TuneloopError

log = logging.getLogger(__name__)

CHECKPOINT_SUBJECT = subjects.kind_events(common_pb2.JOB_KIND_FINE_TUNE)


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


# Handles one message of a followed subject (its payload still encoded).
MessageHandler = Callable[[Msg], Awaitable[None]]


async def run_hotloader(
    js: JetStreamContext,
    load: AdapterLoaderFn,
    data_dir: Path,
    stop: asyncio.Event,
    watch_s: float = 5.0,
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

    await follow(js, CHECKPOINT_SUBJECT, subjects.STREAM_EVENTS, on_message, stop, watch_s)


async def follow(
    js: JetStreamContext,
    subject: str,
    stream: str,
    handle: MessageHandler,
    stop: asyncio.Event,
    watch_s: float = 5.0,
) -> None:
    """Hand every message of `subject` in `stream` to `handle`, from the start and then as
    they come, until `stop` is set; a lost consumer is replaced after the last one seen."""
    last_seq = 0  # the stream sequence of the last message seen

    async def on_message(msg: Msg) -> None:
        nonlocal last_seq
        last_seq = max(last_seq, msg.metadata.sequence.stream)
        await handle(msg)

    async def subscribe() -> JetStreamContext.PushSubscription:
        config = ConsumerConfig(deliver_policy=DeliverPolicy.ALL)
        if last_seq:
            config = ConsumerConfig(
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=last_seq + 1
            )
        return await js.subscribe(
            subject, stream=stream, ordered_consumer=True, config=config, cb=on_message
        )

    subscription = await subscribe()
    try:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), watch_s)
            if stop.is_set():
                break
            try:
                await subscription.consumer_info()
                continue
            except nats.js.errors.NotFoundError:
                log.warning("consumer of %s lost; subscribing again after %d", subject, last_seq)
            except (TimeoutError, nats.errors.Error):
                continue  # NATS unreachable now: look again at the next tick
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()
            try:
                subscription = await subscribe()
            except (TimeoutError, nats.errors.Error) as exc:
                log.warning("cannot subscribe to %s yet: %s", subject, exc)
    finally:
        with contextlib.suppress(Exception):
            await subscription.unsubscribe()
