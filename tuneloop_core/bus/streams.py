"""Stream definitions, created or updated idempotently at start by every process."""

from __future__ import annotations

import logging

from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from tuneloop_core.bus import subjects

log = logging.getLogger(__name__)

DAY_S = 24 * 3600
# Window (seconds) in which a second publish with the same Nats-Msg-Id is dropped.
DUPLICATE_WINDOW_S = 300


def stream_configs(replicas: int = 1) -> list[StreamConfig]:
    """JOBS: a work queue (a message is gone once a worker acks it). EVENTS: a log kept
    30 days, so a job's history can be replayed into the registry. ADAPTERS: see below."""
    return [
        StreamConfig(
            name=subjects.STREAM_JOBS,
            subjects=[subjects.JOBS_WILDCARD],
            retention=RetentionPolicy.WORK_QUEUE,
            storage=StorageType.FILE,
            max_age=14 * DAY_S,
            duplicate_window=DUPLICATE_WINDOW_S,
            num_replicas=replicas,
            discard=DiscardPolicy.NEW,
        ),
        StreamConfig(
            name=subjects.STREAM_EVENTS,
            subjects=[subjects.EVENTS_WILDCARD],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            max_age=30 * DAY_S,
            duplicate_window=DUPLICATE_WINDOW_S,
            num_replicas=replicas,
            discard=DiscardPolicy.OLD,
        ),
        # ADAPTERS: the current state of every imported adapter (the last message per
        # subject, never aged out), replayed by each inference replica when it starts.
        StreamConfig(
            name=subjects.STREAM_ADAPTERS,
            subjects=[subjects.ADAPTERS_WILDCARD],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            max_msgs_per_subject=1,
            duplicate_window=DUPLICATE_WINDOW_S,
            num_replicas=replicas,
            discard=DiscardPolicy.OLD,
        ),
    ]


async def ensure_streams(js: JetStreamContext, replicas: int = 1) -> None:
    """Create the streams, or bring an existing one to the current definition."""
    for config in stream_configs(replicas):
        assert config.name is not None
        try:
            await js.stream_info(config.name)
        except NotFoundError:
            await js.add_stream(config)
            log.info("created stream %s", config.name)
        else:
            await js.update_stream(config)
