"""kill -9 of a trainer worker mid-job (SFT, and DPO): a second worker takes the job over
from the last saved epoch, and the result equals an uninterrupted run with the same seed."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import openai
import pytest
import torch
from safetensors.torch import load_file

from support.stack import TINY, ApiStack, api_stack
from support.trainer_process import TrainerProcess, numbered_letters

pytestmark = pytest.mark.slow
TRAINING = numbered_letters(160)
# 160 preference pairs: a short answer preferred to a long one.
PREFERENCES = "".join(
    json.dumps(
        {
            "input": {"messages": [{"role": "user", "content": f"第{i}號函的主旨是什麼？"}]},
            "preferred_output": [{"role": "assistant", "content": f"第{i}號函。"}],
            "non_preferred_output": [
                {"role": "assistant", "content": f"第{i}號函說明公文格式與發文日期，以及受文者。"}
            ],
        },
        ensure_ascii=False,
    )
    + "\n"
    for i in range(160)
).encode()


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[ApiStack]:
    async with api_stack(tmp_path / "stack") as running:
        yield running


async def wait_status(
    client: openai.AsyncOpenAI, job_id: str, statuses: set[str], limit_s: float
) -> str:
    async with asyncio.timeout(limit_s):
        while (status := (await client.fine_tuning.jobs.retrieve(job_id)).status) not in statuses:
            await asyncio.sleep(0.2)
    return status


async def checkpoint_count(client: openai.AsyncOpenAI, job_id: str) -> int:
    return len((await client.fine_tuning.jobs.checkpoints.list(job_id)).data)


def final_adapter(stack: ApiStack, job_id: str) -> dict[str, torch.Tensor]:
    return load_file(
        stack.common.data_dir
        / "artifacts"
        / "jobs"
        / job_id
        / "final"
        / "adapter_model.safetensors"
    )


async def metric_rows(client: openai.AsyncOpenAI, job_id: str) -> list[dict[str, str]]:
    job = await client.fine_tuning.jobs.retrieve(job_id)
    assert job.result_files and len(job.result_files) == 1
    text = (await client.files.content(job.result_files[0])).text
    return list(csv.DictReader(io.StringIO(text)))


async def test_kill_9_mid_job_then_another_worker_resumes(stack: ApiStack, tmp_path: Path) -> None:
    hyper = {"n_epochs": 3, "batch_size": 4, "learning_rate_multiplier": 4}
    await kill_mid_job_then_resume(stack, tmp_path, TRAINING, {"hyperparameters": hyper})


async def test_kill_9_mid_dpo_job_then_another_worker_resumes(
    stack: ApiStack, tmp_path: Path
) -> None:
    hyper = {"n_epochs": 3, "batch_size": 4, "learning_rate_multiplier": 2, "beta": 0.1}
    method = {"type": "dpo", "dpo": {"hyperparameters": hyper}}
    await kill_mid_job_then_resume(stack, tmp_path, PREFERENCES, {"method": method})


async def kill_mid_job_then_resume(
    stack: ApiStack, tmp_path: Path, training: bytes, settings: dict[str, Any]
) -> None:
    client = openai.AsyncOpenAI(
        base_url=f"{stack.url}/v1", api_key=stack.key("acme"), max_retries=0
    )
    file_id = (
        await client.files.create(file=("t.jsonl", io.BytesIO(training)), purpose="fine-tune")
    ).id
    first = TrainerProcess(stack, tmp_path / "worker-1.log")
    try:
        job = await client.fine_tuning.jobs.create(
            model=TINY, training_file=file_id, seed=5, **settings
        )
        async with asyncio.timeout(120):
            while await checkpoint_count(client, job.id) < 1:
                await asyncio.sleep(0.2)
        await asyncio.sleep(0.5)  # into epoch 2
        first.kill()
        second = TrainerProcess(stack, tmp_path / "worker-2.log")
        try:
            assert await wait_status(client, job.id, {"succeeded", "failed"}, 180) == "succeeded"
            events = [
                e.message
                for e in (await client.fine_tuning.jobs.list_events(job.id, limit=1000)).data
            ]
            assert any(
                m.startswith("Resuming from epoch 1") or m.startswith("Resuming from epoch 2")
                for m in events
            )
            epochs = sorted(
                c.epoch for c in (await client.fine_tuning.jobs.checkpoints.list(job.id)).data
            )
            assert epochs[-1] == 3 and set(epochs) == {1, 2, 3}

            again = await client.fine_tuning.jobs.create(
                model=TINY, training_file=file_id, seed=5, **settings
            )
            assert await wait_status(client, again.id, {"succeeded", "failed"}, 180) == "succeeded"
            # The result file of the job that changed hands holds every step once, as the
            # uninterrupted job's does (the first worker's steps included).
            rows, straight_rows = (
                await metric_rows(client, job.id),
                await metric_rows(client, again.id),
            )
            steps = [int(r["step"]) for r in rows if r["step"]]
            assert steps == list(range(1, len(steps) + 1)) and steps[-1] > 3
            assert [(r["step"], r["epoch"]) for r in rows] == [
                (r["step"], r["epoch"]) for r in straight_rows
            ]
            for row, expected in zip(rows, straight_rows, strict=True):
                if row["train_loss"]:
                    assert float(row["train_loss"]) == pytest.approx(
                        float(expected["train_loss"]), abs=1e-3
                    )
        finally:
            second.stop()
    finally:
        first.stop()
    resumed, straight = final_adapter(stack, job.id), final_adapter(stack, again.id)
    assert resumed.keys() == straight.keys()
    for name, tensor in straight.items():
        assert torch.allclose(tensor, resumed[name], atol=1e-4), name
