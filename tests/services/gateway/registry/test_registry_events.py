"""Job events in the registry: (job_id, seq) stored once, listed in seq order."""

from __future__ import annotations

import pytest

from services.gateway.registry.models import JobEventRow
from services.gateway.registry.store import Registry


@pytest.fixture
def jobs(registry: Registry) -> list[str]:
    tenant_id = registry.ensure_tenant("acme").id
    for job_id in ("ftjob-1", "ftjob-2"):
        registry.create_job(tenant_id, "fine_tune", {}, job_id=job_id)
    return ["ftjob-1", "ftjob-2"]


def event(job_id: str, seq: int, message: str = "") -> JobEventRow:
    return JobEventRow(
        job_id=job_id,
        seq=seq,
        type="note",
        message=message or f"event {seq}",
        data={"step": seq, "loss": 0.5},
    )


def test_add_event_stores_a_seq_once(registry: Registry, jobs: list[str]) -> None:
    assert registry.add_event(event("ftjob-1", 1, "first")) is True
    # A redelivered event: same (job_id, seq), maybe a different body; the first one stays.
    assert registry.add_event(event("ftjob-1", 1, "redelivered")) is False
    # The failed insert left the registry usable, and another job's seq 1 is its own.
    assert registry.add_event(event("ftjob-1", 2)) is True
    assert registry.add_event(event("ftjob-2", 1)) is True

    stored = registry.list_events("ftjob-1")
    assert [(e.seq, e.message) for e in stored] == [(1, "first"), (2, "event 2")]
    assert stored[0].data == {"step": 1, "loss": 0.5}


def test_list_events_orders_by_seq_and_pages_with_after_seq(
    registry: Registry, jobs: list[str]
) -> None:
    for seq in (3, 1, 5, 2, 4):
        registry.add_event(event("ftjob-1", seq))
    registry.add_event(event("ftjob-2", 6))

    assert [e.seq for e in registry.list_events("ftjob-1")] == [1, 2, 3, 4, 5]
    assert [e.seq for e in registry.list_events("ftjob-1", after_seq=2)] == [3, 4, 5]
    assert [e.seq for e in registry.list_events("ftjob-1", after_seq=1, limit=2)] == [2, 3]
    assert registry.list_events("ftjob-1", after_seq=5) == []
    assert [e.seq for e in registry.list_events("ftjob-2")] == [6]
    assert registry.list_events("ftjob-missing") == []


def test_newest_first_pages_backwards_and_filters_by_type(
    registry: Registry, jobs: list[str]
) -> None:
    for seq in (3, 1, 5, 2, 4):
        registry.add_event(event("ftjob-1", seq))
    registry.add_event(
        JobEventRow(job_id="ftjob-1", seq=6, type="checkpoint_saved", message="saved", data={})
    )

    newest = registry.list_events_newest_first
    assert [e.seq for e in newest("ftjob-1")] == [6, 5, 4, 3, 2, 1]
    assert [e.seq for e in newest("ftjob-1", before_seq=5, limit=2)] == [4, 3]
    assert newest("ftjob-1", before_seq=1) == []
    assert [e.seq for e in newest("ftjob-1", event_type="checkpoint_saved")] == [6]
    assert [e.seq for e in newest("ftjob-1", before_seq=6, event_type="note")] == [5, 4, 3, 2, 1]
