"""The OpenAI fine-tuning API end to end with the official SDK: upload, train on a tiny
local model through the JOBS queue, events, checkpoints, and chatting with the result."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator

import openai
import pytest
import pytest_asyncio
import torch

from services.trainer.recipes.config import recipe_names
from support.stack import TINY, ApiStack, api_stack

pytestmark = pytest.mark.asyncio(loop_scope="module")
FACTS = [
    ("函是什麼？", "函是機關之間往來的公文。"),
    ("公告給誰看？", "公告是對公眾宣布事項。"),
    ("What is 速別?", "速別 says how urgent a document is."),
    ("簽由誰寫？", "簽由承辦人寫給長官。"),
]


def jsonl(rows: list[dict[str, object]]) -> bytes:
    return "\n".join(json.dumps(r, ensure_ascii=False) for r in rows).encode()


TRAINING = jsonl(
    [
        {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}
        for q, a in FACTS
    ]
)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ApiStack]:
    async with api_stack(tmp_path_factory.mktemp("ft"), trainer=True) as running_stack:
        yield running_stack


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def client(stack: ApiStack) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{stack.url}/v1", api_key=stack.key("acme"), max_retries=0)


async def upload(client: openai.AsyncOpenAI, content: bytes, name: str = "train.jsonl") -> str:
    return (await client.files.create(file=(name, io.BytesIO(content)), purpose="fine-tune")).id


async def wait_for(
    client: openai.AsyncOpenAI, job_id: str, statuses: set[str], limit_s: float = 180
) -> object:
    async with asyncio.timeout(limit_s):
        while True:
            job = await client.fine_tuning.jobs.retrieve(job_id)
            if job.status in statuses:
                return job
            await asyncio.sleep(0.3)


async def test_fine_tune_then_chat_with_the_result(client: openai.AsyncOpenAI) -> None:
    file_id = await upload(client, TRAINING)
    job = await client.fine_tuning.jobs.create(
        model=TINY,
        training_file=file_id,
        suffix="demo",
        hyperparameters={"n_epochs": 2, "batch_size": 2, "learning_rate_multiplier": 10},
    )
    assert job.status == "validating_files" and job.object == "fine_tuning.job"
    done = await wait_for(client, job.id, {"succeeded", "failed", "cancelled"})
    assert done.status == "succeeded", done.error  # type: ignore[attr-defined]
    assert done.fine_tuned_model == f"ft:{TINY}:acme:demo:{job.id}"  # type: ignore[attr-defined]
    assert done.hyperparameters.n_epochs == 2  # type: ignore[attr-defined]
    assert done.trained_tokens and done.trained_tokens > 0  # type: ignore[attr-defined]

    events = (await client.fine_tuning.jobs.list_events(job.id, limit=100)).data
    assert any(e.type == "metrics" and "train_loss" in (e.data or {}) for e in events)
    checkpoints = (await client.fine_tuning.jobs.checkpoints.list(job.id)).data
    assert sorted(c.fine_tuned_model_checkpoint for c in checkpoints) == [
        f"ft:{TINY}:acme:demo:{job.id}:ckpt-1",
        f"ft:{TINY}:acme:demo:{job.id}:ckpt-2",
    ]

    [result_file] = done.result_files  # type: ignore[attr-defined]
    csv = (await client.files.content(result_file)).text
    assert csv.splitlines()[0].startswith("step,epoch,train_loss")

    names = {m.id for m in (await client.models.list()).data}
    for _ in range(50):
        if done.fine_tuned_model in names:  # type: ignore[attr-defined]
            break
        await asyncio.sleep(0.2)
        names = {m.id for m in (await client.models.list()).data}
    assert {f"ft:{TINY}:acme:demo:{job.id}:ckpt-1", done.fine_tuned_model} <= names  # type: ignore[attr-defined]
    question = [{"role": "user", "content": FACTS[0][0]}]
    base = await client.chat.completions.create(
        model=TINY, messages=question, temperature=0, max_tokens=16
    )
    tuned = await client.chat.completions.create(
        model=done.fine_tuned_model,
        messages=question,
        temperature=0,
        max_tokens=16,  # type: ignore[attr-defined]
    )
    assert tuned.choices[0].message.content != base.choices[0].message.content
    listed = (await client.fine_tuning.jobs.list()).data
    assert job.id in [j.id for j in listed]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"this is not json at all", "not json"),
        (jsonl([{"messages": [{"role": "user", "content": "hi"}]}]), "assistant"),
        (
            jsonl(
                [
                    {"instruction": "a", "input": "", "output": "b"},
                    {"prompt": "x", "completion": "y"},
                ]
            ),
            "format",
        ),
    ],
)
async def test_bad_training_files_fail_in_validation(
    client: openai.AsyncOpenAI, content: bytes, reason: str
) -> None:
    file_id = await upload(client, content)
    job = await client.fine_tuning.jobs.create(model=TINY, training_file=file_id)
    done = await wait_for(client, job.id, {"failed", "succeeded"})
    assert done.status == "failed"  # type: ignore[attr-defined]
    error = done.error  # type: ignore[attr-defined]
    assert error.param == "training_file" and error.code == "invalid_file_format"
    assert reason in error.message.lower()
    assert not (await client.fine_tuning.jobs.checkpoints.list(job.id)).data


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"model": "no-such-model"}, "model"),
        ({"hyperparameters": {"n_epochs": 0}}, "hyperparameters.n_epochs"),
        ({"hyperparameters": {"n_epochs": 1000}}, "hyperparameters.n_epochs"),
        ({"training_file": "file-missing"}, "training_file"),
        ({"suffix": "bad suffix!"}, "suffix"),
    ],
)
async def test_bad_requests_are_rejected_before_queueing(
    client: openai.AsyncOpenAI, kwargs: dict[str, object], param: str
) -> None:
    file_id = await upload(client, TRAINING)
    args: dict[str, object] = {"model": TINY, "training_file": file_id, **kwargs}
    with pytest.raises(openai.BadRequestError) as caught:
        await client.fine_tuning.jobs.create(**args)  # type: ignore[arg-type]
    assert caught.value.body["param"] == param  # type: ignore[index]


async def test_an_unknown_recipe_is_refused_with_the_trainers_list(
    client: openai.AsyncOpenAI,
) -> None:
    file_id = await upload(client, TRAINING)
    with pytest.raises(openai.BadRequestError) as caught:
        await client.fine_tuning.jobs.create(
            model=TINY, training_file=file_id, extra_body={"recipe": "lorra"}
        )
    body = caught.value.body
    assert body["param"] == "recipe"  # type: ignore[index]
    assert "available: " in body["message"] and "lora" in body["message"]  # type: ignore[index]
    names = body["message"].split("available: ")[1].split(", ")  # type: ignore[index]
    assert set(names) == set(recipe_names())  # what the trainer has, from ListRecipes


async def test_cancel_and_tenant_isolation(stack: ApiStack, client: openai.AsyncOpenAI) -> None:
    file_id = await upload(client, TRAINING)
    job = await client.fine_tuning.jobs.create(
        model=TINY, training_file=file_id, hyperparameters={"n_epochs": 20}
    )
    cancelled = await client.fine_tuning.jobs.cancel(job.id)
    assert cancelled.status == "cancelled"
    other = openai.AsyncOpenAI(
        base_url=f"{stack.url}/v1", api_key=stack.key("globex"), max_retries=0
    )
    with pytest.raises(openai.NotFoundError):
        await other.fine_tuning.jobs.retrieve(job.id)
    with pytest.raises(openai.APIStatusError) as again:
        await client.fine_tuning.jobs.cancel(job.id)
    assert again.value.status_code == 409


async def test_pause_then_resume_continues_where_it_stopped(client: openai.AsyncOpenAI) -> None:
    many = jsonl(
        [
            {
                "messages": [
                    {"role": "user", "content": f"問題{i}"},
                    {"role": "assistant", "content": f"答案{i}"},
                ]
            }
            for i in range(60)
        ]
    )
    file_id = await upload(client, many)
    job = await client.fine_tuning.jobs.create(
        model=TINY, training_file=file_id, hyperparameters={"n_epochs": 6, "batch_size": 2}
    )
    async with asyncio.timeout(120):
        while not [
            e
            for e in (await client.fine_tuning.jobs.list_events(job.id, limit=100)).data
            if e.type == "metrics"
        ]:
            await asyncio.sleep(0.1)
    paused = await client.post(f"/fine_tuning/jobs/{job.id}/pause", cast_to=object)
    assert paused["status"] == "paused"  # type: ignore[index]
    async with asyncio.timeout(60):
        while not any(
            e.message.startswith("Paused at")
            for e in (await client.fine_tuning.jobs.list_events(job.id, limit=1000)).data
        ):
            await asyncio.sleep(0.1)
    assert (await client.fine_tuning.jobs.retrieve(job.id)).status == "paused"
    resumed = await client.post(f"/fine_tuning/jobs/{job.id}/resume", cast_to=object)
    assert resumed["status"] == "queued"  # type: ignore[index]
    done = await wait_for(client, job.id, {"succeeded", "failed"})
    assert done.status == "succeeded", done.error  # type: ignore[attr-defined]
    messages = [
        e.message for e in (await client.fine_tuning.jobs.list_events(job.id, limit=1000)).data
    ]
    assert any(m.startswith("Resuming from epoch") for m in messages)
    steps = [
        e.data["step"]
        for e in (await client.fine_tuning.jobs.list_events(job.id, limit=1000)).data
        if e.type == "metrics"
    ]
    assert sorted(steps) == list(range(1, max(steps) + 1)), "no step trained twice, none skipped"


@pytest.mark.skipif(torch.cuda.is_available(), reason="this worker has a GPU: QLoRA can run")
async def test_qlora_fails_fast_without_a_gpu(client: openai.AsyncOpenAI) -> None:
    file_id = await upload(client, TRAINING)
    job = await client.fine_tuning.jobs.create(
        model=TINY, training_file=file_id, extra_body={"recipe": "qlora"}
    )
    done = await wait_for(client, job.id, {"failed", "succeeded"})
    assert done.status == "failed"  # type: ignore[attr-defined]
    assert done.error.param == "method.quantization"  # type: ignore[attr-defined]
    assert "GPU" in done.error.message  # type: ignore[attr-defined]
