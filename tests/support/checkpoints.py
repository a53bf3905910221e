"""A fine-tuning checkpoint announced on the bus as the trainer announces one, so the
inference service hot-loads it as an adapter (an `ft:` model) of the tenant."""

from __future__ import annotations

from pathlib import Path

from support.stack import TINY, ApiStack
from tuneloop.common.v1 import common_pb2
from tuneloop.events.v1 import events_pb2
from tuneloop_core.bus.publish import EventPublisher


async def announce_checkpoint(
    stack: ApiStack,
    tenant: str,
    name: str,
    path: Path,
    base: str = TINY,
    job_id: str = "ftjob-hot",
) -> None:
    assert stack.gateway.nats is not None
    tenant_id = stack.registry.ensure_tenant(tenant).id
    events = EventPublisher(stack.gateway.nats.jetstream(), common_pb2.JOB_KIND_FINE_TUNE, job_id)
    await events.publish(
        "epoch 1 saved",
        checkpoint_saved=events_pb2.CheckpointSaved(
            checkpoint_id="ckpt-1",
            model_name=name,
            base_model=base,
            path=str(path.relative_to(stack.common.data_dir)),
            epoch=1,
            tenant_id=tenant_id,
        ),
    )
