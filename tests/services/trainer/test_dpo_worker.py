"""A DPO job through the trainer worker on the tiny model: queued on JOBS as the gateway
queues one (a FineTuneJobSpec with method_type "dpo"), trained, with per-epoch
checkpoints served as model names, metric events carrying the reward margin and accuracy,
a result whose epochs have them, and a verdict in words; a file that is not a preference
file fails the job with the reader's error; a job can start from a fine-tuned adapter."""

from __future__ import annotations

import asyncio
import io
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import nats
import openai
import pytest
import pytest_asyncio

from services.gateway.ids import PREFIXES, new_id
from services.gateway.registry.models import Job
from services.gateway.registry.records import record
from support.stack import TINY, ApiStack, api_stack
from support.tiny_model import build_tiny_adapter
from tests.services.trainer.dpo_support import PAIRS
from tuneloop.common.v1 import common_pb2
from tuneloop.trainer.v1 import trainer_pb2
from tuneloop_core import basemodels
from tuneloop_core.bus.publish import publish_job

pytestmark = pytest.mark.asyncio(loop_scope="module")


def preference_file() -> bytes:
    rows = [
        {
            "input": {"messages": [{"role": t.role.value, "content": t.content} for t in p.prompt]},
            "preferred_output": [{"role": "assistant", "content": p.chosen}],
            "non_preferred_output": [{"role": "assistant", "content": p.rejected}],
        }
        for p in PAIRS
    ]
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ApiStack]:
    async with api_stack(tmp_path_factory.mktemp("dpo-worker"), trainer=True) as running:
        yield running


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def client(stack: ApiStack) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(
        base_url=f"{stack.url}/v1", api_key=stack.key("acme"), max_retries=0
    ) as sdk:
        yield sdk


async def upload(client: openai.AsyncOpenAI, content: bytes) -> str:
    file = await client.files.create(file=("p.jsonl", io.BytesIO(content)), purpose="fine-tune")
    return file.id


async def queue(stack: ApiStack, spec: trainer_pb2.FineTuneJobSpec) -> str:
    """Record and queue the job the way the gateway's jobs service does."""
    tenant = stack.registry.ensure_tenant("acme")
    job_id = new_id(PREFIXES["fine_tune"])
    stack.registry.create_job(tenant.id, "fine_tune", record(spec), job_id=job_id)
    connection = await nats.connect(stack.common.nats_url)
    try:
        await publish_job(
            connection.jetstream(),
            job_id=job_id,
            tenant_id=tenant.id,
            kind=common_pb2.JOB_KIND_FINE_TUNE,
            spec=spec,
        )
    finally:
        await connection.close()
    return job_id


async def finished(stack: ApiStack, job_id: str, limit_s: float = 180) -> Job:
    async with asyncio.timeout(limit_s):
        while (job := stack.registry.get_job(job_id)).status not in (
            "succeeded",
            "failed",
            "cancelled",
        ):
            await asyncio.sleep(0.2)
    return job


def dpo_spec(training_file: str, **fields: Any) -> trainer_pb2.FineTuneJobSpec:
    """Every hyper-parameter "auto" unless given."""
    return trainer_pb2.FineTuneJobSpec(
        base_model=TINY,
        training_file=training_file,
        tenant_name="acme",
        suffix="short",
        method_type="dpo",
        seed=3,
        **fields,
    )


async def test_a_dpo_job_trains_checkpoints_and_judges(
    stack: ApiStack, client: openai.AsyncOpenAI
) -> None:
    job_id = await queue(stack, dpo_spec(await upload(client, preference_file())))
    job = await finished(stack, job_id)
    assert job.status == "succeeded", job.error
    result = job.result or {}
    name = f"ft:{TINY}:acme:short:{job_id}"
    assert result["fine_tuned_model"] == name
    chosen = result["hyperparameters"]
    assert (chosen["n_epochs"], chosen["batch_size"], chosen["beta"]) == (4, 1, 0.1)
    assert chosen["learning_rate_multiplier"] == pytest.approx(0.25)
    epochs = result["epochs"]
    assert [e["epoch"] for e in epochs] == [1, 2, 3, 4]  # auto: 4 for 6 pairs
    assert all("reward_margin" in e and "reward_accuracy" in e for e in epochs)
    assert epochs[-1]["reward_margin"] > epochs[0]["reward_margin"] > 0  # auto moves it
    assert epochs[-1]["reward_accuracy"] == 1.0
    verdict = result["verdict"]
    assert verdict["message"].startswith("The reward margin grew every epoch")
    assert "on the training pairs" in verdict["message"]

    rows = stack.registry.list_events(job_id, limit=1000)
    steps = [r.data for r in rows if r.type == "metrics"]
    assert steps and all("reward_margin" in s["values"] for s in steps)
    assert all("reward_accuracy" in s["values"] for s in steps)
    messages = [r.message for r in rows]
    assert any("reward margin" in m for m in messages if m.startswith("Step "))
    assert any(m.startswith("Preference-tuning (DPO) tiny on 6 preference pairs") for m in messages)
    saved = (await client.fine_tuning.jobs.checkpoints.list(job_id)).data
    assert sorted(c.fine_tuned_model_checkpoint for c in saved) == [
        f"{name}:ckpt-{epoch}" for epoch in (1, 2, 3, 4)
    ]
    [result_file] = result["result_files"]
    header = (await client.files.content(result_file)).text.splitlines()[0]
    assert header.startswith("step,epoch,train_loss,learning_rate,grad_norm,tokens_per_second")
    assert "reward_margin,reward_accuracy,chosen_reward,rejected_reward" in header


async def test_a_conversation_file_fails_the_job_with_the_line_named(
    stack: ApiStack, client: openai.AsyncOpenAI
) -> None:
    sft = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}
    file_id = await upload(client, (json.dumps(sft) + "\n").encode())
    job = await finished(stack, await queue(stack, dpo_spec(file_id)))
    assert job.status == "failed"
    error = job.error or {}
    assert error["param"] == "training_file" and error["code"] == "invalid_file_format"
    assert "line 1" in error["message"]


async def test_a_dpo_job_continues_a_fine_tuned_model(
    stack: ApiStack, client: openai.AsyncOpenAI
) -> None:
    data_dir = stack.common.data_dir
    relative = "artifacts/jobs/ftjob-start/final"
    build_tiny_adapter(Path(basemodels.resolve(TINY, data_dir).path), data_dir / relative)
    start = f"ft:{TINY}:acme:sft:ftjob-start"
    spec = dpo_spec(
        await upload(client, preference_file()),
        start_model=start,
        start_adapter_path=relative,
        hyperparameters=trainer_pb2.Hyperparameters(n_epochs=1),
    )
    job = await finished(stack, await queue(stack, spec))
    assert job.status == "succeeded", job.error
    rows = stack.registry.list_events(job.id, limit=1000)
    assert any(
        r.message.startswith(f"Preference-tuning (DPO) {start} (an adapter on {TINY}) further")
        for r in rows
    )
    steps = [r.data["values"] for r in rows if r.type == "metrics"]
    assert steps[0]["reward_margin"] == pytest.approx(0.0, abs=1e-6)  # reference = start
    shutil.rmtree(data_dir / relative)
