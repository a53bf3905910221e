"""Two trainer workers share six queued jobs; one of them is killed with SIGKILL at random
points, ten times, and replaced. Every job must end `succeeded` exactly once, with each
epoch's checkpoint announced exactly once, and every worker that takes a job over must
resume from the last checkpoint saved before the kill (the job's events show it)."""

from __future__ import annotations

import asyncio
import io
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import openai
import pytest

from services.gateway.registry.models import JobEventRow
from support.stack import TINY, ApiStack, api_stack
from support.trainer_process import TrainerProcess, numbered_letters

pytestmark = pytest.mark.slow
JOBS = 6
KILLS = 10
EPOCHS = 5
TRAINING = numbered_letters(96, "說明公文格式與發文日期。")


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[ApiStack]:
    async with api_stack(tmp_path / "stack") as running:
        yield running


@dataclass
class Take:
    """One delivery of a job to a worker, as its events tell it."""

    pid: int
    announced: int  # epochs announced before the worker took the job
    resumed: int | None = None  # the epoch it said it resumed from
    steps: int = 0  # steps it made


@dataclass
class JobLog:
    takes: list[Take] = field(default_factory=list)
    epochs: list[int] = field(default_factory=list)  # checkpoint events, in order
    finals: int = 0
    succeeded: int = 0

    @classmethod
    def of(cls, rows: list[JobEventRow]) -> JobLog:
        log = cls()
        for row in rows:
            data = row.data or {}
            note = data.get("data", {}) if row.type == "note" else {}
            if "worker" in note:
                pid = int(note["worker"].rsplit(":", 1)[1])
                log.takes.append(Take(pid, announced=len(set(log.epochs))))
            elif "resumed_epoch" in note:
                log.takes[-1].resumed = int(note["resumed_epoch"])
            elif row.type == "checkpoint_saved" and data.get("is_final"):
                log.finals += 1
            elif row.type == "checkpoint_saved":
                log.epochs.append(int(data["epoch"]))
            elif row.type == "metrics":
                log.takes[-1].steps += 1
            elif row.type == "status_changed" and data.get("status") == "JOB_STATUS_SUCCEEDED":
                log.succeeded += 1
        return log


def job_log(stack: ApiStack, job_id: str) -> JobLog:
    return JobLog.of(stack.registry.list_events(job_id, limit=100_000))


def unfinished(stack: ApiStack, jobs: list[str]) -> list[str]:
    return [j for j in jobs if stack.registry.get_job(j).status not in ("succeeded", "failed")]


async def steps_held(stack: ApiStack, jobs: list[str], pid: int) -> int | None:
    """Steps the worker `pid` has made on the job it holds, if that job is not in its last
    epoch (None otherwise). The registry applies events a moment after they are published:
    a job in its last epoch could have ended, unseen, by the time the kill lands."""
    for job_id in unfinished(stack, jobs):
        log = await asyncio.to_thread(job_log, stack, job_id)
        if log.takes and log.takes[-1].pid == pid:
            return log.takes[-1].steps if len(set(log.epochs)) < EPOCHS - 1 else None
    return None


async def test_ten_kills_of_two_workers_lose_no_job(stack: ApiStack, tmp_path: Path) -> None:
    client = openai.AsyncOpenAI(
        base_url=f"{stack.url}/v1", api_key=stack.key("acme"), max_retries=0
    )
    file_id = (
        await client.files.create(file=("t.jsonl", io.BytesIO(TRAINING)), purpose="fine-tune")
    ).id
    hyper = {"n_epochs": EPOCHS, "batch_size": 4, "learning_rate_multiplier": 2}
    jobs = [
        (
            await client.fine_tuning.jobs.create(
                model=TINY, training_file=file_id, seed=i, hyperparameters=hyper
            )
        ).id
        for i in range(JOBS)
    ]
    rng = random.Random(20261206)
    logs = tmp_path / "workers"
    logs.mkdir()
    started = 0

    def start() -> TrainerProcess:
        nonlocal started
        started += 1
        return TrainerProcess(stack, logs / f"worker-{started}.log")

    workers = [start(), start()]
    first_pids = {w.pid for w in workers}
    killed: list[int] = []
    try:
        async with asyncio.timeout(900):
            while len(killed) < KILLS:
                # A random point of a worker's work: after 1-36 steps on the job it holds
                # (an epoch is 22 steps, so some kills come after a checkpoint); of the two,
                # the one picked first in a random order when both are there.
                wanted = rng.randint(1, 36)
                order = rng.sample(range(2), 2)
                while True:
                    held = [await steps_held(stack, jobs, workers[w].pid) for w in order]
                    ready = [w for w, n in zip(order, held, strict=True) if (n or 0) >= wanted]
                    if ready:
                        victim = ready[0]
                        break
                    if not unfinished(stack, jobs):
                        pytest.fail(f"all jobs finished after only {len(killed)} kills")
                    await asyncio.sleep(0.05)
                workers[victim].kill()
                killed.append(workers[victim].pid)
                workers[victim] = start()
            while unfinished(stack, jobs):
                await asyncio.sleep(0.5)
    finally:
        for worker in workers:
            worker.stop()

    handovers = resumes = 0
    for job_id in jobs:
        job = await client.fine_tuning.jobs.retrieve(job_id)
        assert job.status == "succeeded", (job_id, job.error)
        log = job_log(stack, job_id)
        assert log.succeeded == 1 and log.finals == 1, job_id
        # Every epoch announced once: none lost, none trained and published twice.
        assert sorted(log.epochs) == list(range(1, EPOCHS + 1)), (job_id, log.epochs)
        saved = await client.fine_tuning.jobs.checkpoints.list(job_id, limit=20)
        assert sorted(c.step_number for c in saved.data) == sorted(
            {c.step_number for c in saved.data}
        )
        assert len(saved.data) == EPOCHS
        # A job changes hands only when its worker is killed...
        assert all(take.pid in killed for take in log.takes[:-1]), (job_id, log.takes)
        assert log.takes[-1].pid not in killed
        handovers += len(log.takes) - 1
        # ...and the next worker resumes from the last epoch announced before it took the
        # job (or, when the dead worker had saved an epoch but not yet announced it, from
        # that one, which it announces at once).
        assert log.takes[0].resumed is None
        for take in log.takes[1:]:
            if take.announced:
                assert take.resumed in (take.announced, take.announced + 1), (job_id, log.takes)
                resumes += 1
            else:
                assert take.resumed in (None, 1), (job_id, log.takes)
    # Each kill caught its victim holding a job, which then went to another worker.
    assert handovers == KILLS
    assert resumes >= 1  # some kills came after a checkpoint (else nothing was resumed)
    assert first_pids <= {t.pid for j in jobs for t in job_log(stack, j).takes}
