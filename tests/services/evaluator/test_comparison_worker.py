"""The evaluator's comparison worker on the in-process stack: how it reads a job, how a
model that cannot answer fails the job, and how a cancel stops it between batches."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from services.evaluator.comparisons.spec import from_pb
from services.evaluator.comparisons.worker import conversation
from services.gateway.registry.models import Job
from services.gateway.registry.records import record
from services.gateway.registry.transitions import JobStatus
from support.stack import TINY, ApiStack, api_stack
from tuneloop.common.v1 import common_pb2
from tuneloop.evaluator.v1 import evaluator_pb2
from tuneloop_core import layout
from tuneloop_core.bus.publish import publish_job
from tuneloop_core.errors import InvalidRequestError

in_module_loop = pytest.mark.asyncio(loop_scope="module")


def spec_of(**fields: Any) -> evaluator_pb2.ComparisonJobSpec:
    """A spec with the API's defaults for what `fields` leaves out."""
    defaults = {"max_tokens": 256, "temperature": 0.0, "top_p": 1.0}
    return evaluator_pb2.ComparisonJobSpec(**{**defaults, **fields})


def test_spec_numbers_come_back_as_ints_and_system_is_optional() -> None:
    spec = from_pb(spec_of(models=["a", "b"], questions=["q"], max_tokens=16))
    assert spec.max_tokens == 16
    assert (spec.temperature, spec.top_p, spec.system) == (0.0, 1.0, "")
    assert [m.role for m in conversation(spec, "q")] == ["user"]
    with_system = from_pb(spec_of(models=["a", "b"], questions=["q"], system="be brief"))
    assert [(m.role, m.content) for m in conversation(with_system, "q")] == [
        ("system", "be brief"),
        ("user", "q"),
    ]
    for bad, param in (
        (spec_of(models=["a"], questions=["q"]), "models"),  # side by side needs two
        (spec_of(models=["a", "b"]), "questions"),
        (spec_of(models=["a", "b"], questions=["q"], max_tokens=0), "max_tokens"),
        (spec_of(models=["a", "b"], questions=["q"], top_p=0.0), "top_p"),
    ):
        with pytest.raises(InvalidRequestError) as caught:
            from_pb(bad)
        assert caught.value.param == param


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ApiStack]:
    async with api_stack(tmp_path_factory.mktemp("cmpw"), evaluator=True) as running_stack:
        yield running_stack


async def submit(stack: ApiStack, job_id: str, spec: evaluator_pb2.ComparisonJobSpec) -> None:
    """Queue a job as the gateway would, without its checks (a model may vanish later)."""
    tenant = stack.registry.ensure_tenant("acme")
    stack.registry.create_job(tenant.id, "comparison", record(spec), job_id=job_id)
    assert stack.gateway.nats is not None
    await publish_job(
        stack.gateway.nats.jetstream(),
        job_id=job_id,
        tenant_id=tenant.id,
        kind=common_pb2.JOB_KIND_COMPARISON,
        spec=spec,
    )


async def wait_for(stack: ApiStack, job_id: str, statuses: set[str]) -> Job:
    for _ in range(600):
        job = stack.registry.get_job(job_id)
        if job.status in statuses:
            return job
        await asyncio.sleep(0.05)
    raise AssertionError(f"{job_id} stayed {job.status}")


@in_module_loop
async def test_a_model_that_cannot_answer_fails_the_job(stack: ApiStack) -> None:
    spec = spec_of(models=[TINY, "gone"], questions=["Hello"], max_tokens=4)
    await submit(stack, "cmpjob-gone", spec)
    job = await wait_for(stack, "cmpjob-gone", {"failed", "succeeded"})
    assert job.status == JobStatus.FAILED
    assert job.error is not None and "gone" in job.error["message"]
    assert not (stack.common.data_dir / "artifacts" / layout.comparison_answers(job.id)).exists()


@in_module_loop
async def test_a_cancel_stops_the_job_between_batches(stack: ApiStack) -> None:
    questions = [f"Question {i}" for i in range(2000)]  # far more than finish in seconds
    spec = spec_of(models=[TINY, TINY], questions=questions, max_tokens=16, temperature=1.0)
    await submit(stack, "cmpjob-cancel", spec)
    await wait_for(stack, "cmpjob-cancel", {"running"})
    stack.registry.transition_job("cmpjob-cancel", JobStatus.CANCELLED)
    # The worker notices within its poll interval (2 s) and then publishes nothing more:
    # the stored events stop growing (each read waits for what the gateway still applies,
    # which lags on a loaded machine) long before 2000 questions could be answered.
    seen, events = -1, stack.registry.list_events("cmpjob-cancel", 0, 10_000)
    for _ in range(15):
        if len(events) == seen:
            break
        seen = len(events)
        await asyncio.sleep(2.5)
        events = stack.registry.list_events("cmpjob-cancel", 0, 10_000)
    assert len(events) == seen, "the job kept publishing after it was cancelled"
    assert stack.registry.get_job("cmpjob-cancel").status == JobStatus.CANCELLED
    done = [int(e.data["done"]) for e in events if e.type == "progress" and e.data]
    assert max(done, default=0) < len(questions)
    assert not (
        stack.common.data_dir / "artifacts" / layout.comparison_answers("cmpjob-cancel")
    ).exists()
