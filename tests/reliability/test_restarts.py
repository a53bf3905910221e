"""NATS (on the same store) and the gateway restart while a fine-tuning job trains: no job,
event or file is lost, the job finishes, statuses agree with the events afterwards, and
the queue and hot-loading work for what comes after."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import openai
import pytest

from support.stack import TINY, ApiStack, api_stack
from support.trainer_process import TrainerProcess, numbered_letters

pytestmark = pytest.mark.slow
EPOCHS = 3
TRAINING = numbered_letters(120)


def client_for(stack: ApiStack, key: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{stack.url}/v1", api_key=key, max_retries=0)


async def steps(stack: ApiStack, job_id: str) -> int:
    rows = await asyncio.to_thread(stack.registry.list_events, job_id, 0, 100_000)
    return sum(r.type == "metrics" for r in rows)


async def wait_done(client: openai.AsyncOpenAI, job_ids: list[str], limit_s: float) -> None:
    async with asyncio.timeout(limit_s):
        for job_id in job_ids:
            while (await client.fine_tuning.jobs.retrieve(job_id)).status not in (
                "succeeded",
                "failed",
                "cancelled",
            ):
                await asyncio.sleep(0.3)


async def test_nats_and_gateway_restart_mid_job(tmp_path: Path) -> None:
    async with api_stack(tmp_path / "stack", fixed_ports=True) as stack:
        key = stack.key("acme")
        client = client_for(stack, key)
        training = await client.files.create(
            file=("train.jsonl", io.BytesIO(TRAINING)), purpose="fine-tune"
        )
        other = await client.files.create(
            file=("notes.jsonl", io.BytesIO(TRAINING[:2000].rsplit(b"\n", 1)[0])),
            purpose="fine-tune",
        )
        hyper = {"n_epochs": EPOCHS, "batch_size": 4}
        jobs = [
            (
                await client.fine_tuning.jobs.create(
                    model=TINY, training_file=training.id, seed=i, hyperparameters=hyper
                )
            ).id
            for i in range(2)
        ]
        worker = TrainerProcess(stack, tmp_path / "worker.log", ack_wait_s=10)
        try:
            async with asyncio.timeout(120):
                while await steps(stack, jobs[0]) < 3:
                    await asyncio.sleep(0.1)
            files_before = sorted(f.id for f in (await client.files.list()).data)
            assert (await client.fine_tuning.jobs.retrieve(jobs[0])).status == "running"
            steps_before = await steps(stack, jobs[0])

            stack.nats.stop()  # the trainer keeps training; its events wait for NATS
            await asyncio.sleep(2)
            stack.nats.start()
            await stack.restart_gateway()
            client = client_for(stack, key)

            await wait_done(client, jobs, 300)
            assert await steps(stack, jobs[0]) > steps_before  # it trained on after both
            late = await client.fine_tuning.jobs.create(
                model=TINY, training_file=other.id, seed=7, hyperparameters={"n_epochs": 1}
            )
            await wait_done(client, [late.id], 120)
        finally:
            worker.stop()

        # Nothing lost: the files are all there (plus each job's result file), the jobs too.
        files_after = {f.id for f in (await client.files.list(limit=100)).data}
        assert set(files_before) <= files_after
        assert {training.id, other.id} <= files_after
        listed = {j.id for j in (await client.fine_tuning.jobs.list(limit=100)).data}
        assert set(jobs) | {late.id} == listed
        for job_id in [*jobs, late.id]:
            job = await client.fine_tuning.jobs.retrieve(job_id)
            assert job.status == "succeeded", (job_id, job.error)
            assert job.result_files and set(job.result_files) <= files_after
            rows = stack.registry.list_events(job_id, limit=100_000)
            # Every event arrived once and in order (no gap from the outage)...
            assert [r.seq for r in rows] == list(range(1, len(rows) + 1))
            statuses = [r for r in rows if r.type == "status_changed"]
            assert (statuses[-1].data or {}).get("status") == "JOB_STATUS_SUCCEEDED"
            # ...every step's metrics included, and every epoch's checkpoint.
            n_epochs = EPOCHS if job_id in jobs else 1
            checkpoints = await client.fine_tuning.jobs.checkpoints.list(job_id)
            assert len(checkpoints.data) == n_epochs
            metric_steps = [int((r.data or {})["step"]) for r in rows if r.type == "metrics"]
            assert metric_steps == list(range(1, len(metric_steps) + 1))
            # The final model was hot-loaded through the restarted NATS and answers.
            assert job.fine_tuned_model is not None
            reply = await client.chat.completions.create(
                model=job.fine_tuned_model,
                messages=[{"role": "user", "content": "第1號函的主旨是什麼？"}],
                max_tokens=4,
            )
            assert reply.choices[0].message.content is not None
