"""Preference tuning (DPO) through the unmodified `openai` SDK: SmolLM2-135M (the bundled
model) learns to prefer short answers from 16 pairs and answers held-out prompts shorter;
an SFT job's model is tuned further with DPO and served; votes on a comparison become a
preference file the DPO API takes as it is; bad preference files fail with the line named."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import openai
import pytest
import pytest_asyncio

from support.smollm2 import SERVED_AS, pulled_smollm2
from support.stack import TINY, ApiStack, api_stack

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]
CITIES = ["Paris", "Tokyo", "Cairo", "Lima", "Oslo", "Rome", "Berlin", "Madrid", "Vienna",
          "Prague", "Dublin", "Lisbon", "Athens", "Warsaw", "Seoul", "Delhi"]  # fmt: skip
HELD_OUT = ["London", "Sydney", "Toronto", "Nairobi"]
LONG = (
    "{city} is a remarkable place with a long and fascinating history that stretches back "
    "many centuries. It is known for its architecture, its museums, its food, its music and "
    "its people, and visitors from all over the world come every year to walk its streets, "
    "admire its landmarks and enjoy its many festivals and neighbourhoods."
)


SFT_LINE = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}


def preference(city: str) -> dict[str, Any]:
    return {
        "input": {"messages": [{"role": "user", "content": f"Tell me about {city}."}]},
        "preferred_output": [{"role": "assistant", "content": f"{city} is a city."}],
        "non_preferred_output": [{"role": "assistant", "content": LONG.format(city=city)}],
    }


def jsonl(rows: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ApiStack]:
    async with api_stack(
        tmp_path_factory.mktemp("dpo"),
        trainer=True,
        evaluator=True,
        models={SERVED_AS: pulled_smollm2()},
    ) as running:
        yield running


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def client(stack: ApiStack) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(
        base_url=f"{stack.url}/v1", api_key=stack.key("acme"), max_retries=0
    ) as sdk:
        yield sdk


async def upload(client: openai.AsyncOpenAI, content: bytes) -> str:
    file = await client.files.create(file=("prefs.jsonl", io.BytesIO(content)), purpose="fine-tune")
    return file.id


async def finished(client: openai.AsyncOpenAI, job_id: str, limit_s: float = 900) -> Any:
    async with asyncio.timeout(limit_s):
        while True:
            job = await client.fine_tuning.jobs.retrieve(job_id)
            if job.status in ("succeeded", "failed", "cancelled"):
                return job
            await asyncio.sleep(1)


async def served(client: openai.AsyncOpenAI, model: str) -> None:
    async with asyncio.timeout(60):
        while model not in [m.id async for m in client.models.list()]:
            await asyncio.sleep(0.3)


async def answer_length(client: openai.AsyncOpenAI, model: str, city: str) -> int:
    reply = await client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": f"Tell me about {city}."}],
        max_tokens=96,
        temperature=0,
    )
    return len(reply.choices[0].message.content or "")


async def test_dpo_teaches_smollm2_to_answer_shorter(client: openai.AsyncOpenAI) -> None:
    training = await upload(client, jsonl([preference(c) for c in CITIES]))
    job = await client.fine_tuning.jobs.create(
        model=SERVED_AS,
        training_file=training,
        suffix="short",
        method={"type": "dpo", "dpo": {"hyperparameters": {"beta": 0.1}}},
    )
    assert job.method is not None and job.method.type == "dpo"
    done = await finished(client, job.id)
    assert done.status == "succeeded", done.error
    assert done.hyperparameters.model_dump()["beta"] == 0.1
    await served(client, done.fine_tuned_model)
    events = [e async for e in client.fine_tuning.jobs.list_events(job.id, limit=1000)]
    metrics = [e.data for e in events if e.type == "metrics" and e.data]
    assert any("reward_margin" in m and "reward_accuracy" in m for m in metrics)
    checkpoints = [c async for c in client.fine_tuning.jobs.checkpoints.list(job.id)]
    assert checkpoints  # one per epoch, each served as a model name

    base = [await answer_length(client, SERVED_AS, c) for c in HELD_OUT]
    tuned = [await answer_length(client, done.fine_tuned_model, c) for c in HELD_OUT]
    assert sum(tuned) <= 0.7 * sum(base), (base, tuned)


async def test_sft_then_dpo_continues_from_the_sft_model(
    stack: ApiStack, client: openai.AsyncOpenAI
) -> None:
    sft_rows = [
        {
            "messages": [
                {"role": "user", "content": f"Tell me about {c}."},
                {"role": "assistant", "content": f"{c} is a city."},
            ]
        }
        for c in CITIES[:8]
    ]
    sft = await client.fine_tuning.jobs.create(
        model=TINY,
        training_file=await upload(client, jsonl(sft_rows)),
        hyperparameters={"n_epochs": 1},
    )
    sft_done = await finished(client, sft.id, 300)
    assert sft_done.status == "succeeded", sft_done.error
    await served(client, sft_done.fine_tuned_model)
    dpo = await client.fine_tuning.jobs.create(
        model=sft_done.fine_tuned_model,
        training_file=await upload(client, jsonl([preference(c) for c in CITIES[:8]])),
        method={"type": "dpo", "dpo": {"hyperparameters": {"n_epochs": 1}}},
    )
    assert dpo.model == sft_done.fine_tuned_model
    dpo_done = await finished(client, dpo.id, 300)
    assert dpo_done.status == "succeeded", dpo_done.error
    await served(client, dpo_done.fine_tuned_model)
    reply = await client.chat.completions.create(
        model=dpo_done.fine_tuned_model,
        messages=[{"role": "user", "content": "Tell me about Oslo."}],
        max_tokens=4,
    )
    assert reply.choices[0].message.content is not None


@pytest.mark.parametrize(
    ("rows", "wanted"),
    [
        (
            [preference("Paris"), SFT_LINE],
            "line 2",
        ),
        (
            [preference("Paris"), {**preference("Rome"), "non_preferred_output": [
                {"role": "assistant", "content": "Rome is a city."}]}],
            "line 2",
        ),
        (
            [SFT_LINE],
            "line 1",
        ),
    ],
    ids=["mixed-sft-and-preference", "identical-outputs", "sft-file-for-dpo"],
)  # fmt: skip
async def test_bad_preference_files_fail_with_the_line_named(
    client: openai.AsyncOpenAI, rows: list[dict[str, Any]], wanted: str
) -> None:
    job = await client.fine_tuning.jobs.create(
        model=TINY,
        training_file=await upload(client, jsonl(rows)),
        method={"type": "dpo"},
    )
    done = await finished(client, job.id, 120)
    assert done.status == "failed"
    assert done.error is not None and wanted in done.error.message, done.error


async def test_votes_become_a_preference_file_the_dpo_api_takes(
    stack: ApiStack, client: openai.AsyncOpenAI
) -> None:
    key = stack.key("acme")
    async with httpx.AsyncClient(
        base_url=f"{stack.url}/v1", headers={"Authorization": f"Bearer {key}"}, timeout=60
    ) as http:
        created = await http.post(
            "/comparisons",
            json={
                "models": [SERVED_AS, TINY],
                "questions": ["Tell me about Paris.", "Tell me about Rome.", "Hi"],
                "max_tokens": 12,
            },
        )
        comparison_id = created.json()["id"]
        async with asyncio.timeout(300):
            while (await http.get(f"/comparisons/{comparison_id}")).json()["status"] not in (
                "succeeded",
                "failed",
            ):
                await asyncio.sleep(0.3)
        for index, model in ((0, SERVED_AS), (1, SERVED_AS)):
            voted = await http.post(
                f"/comparisons/{comparison_id}/votes",
                json={"question_index": index, "model": model},
            )
            assert voted.status_code == 200, voted.text
        made = await http.post(f"/comparisons/{comparison_id}/preference_file")
        assert made.status_code == 200, made.text
        body = made.json()
        assert (body["pairs"], body["left_out"], body["purpose"]) == (
            2,
            {"no_votes": 1},
            "fine-tune",
        )
        content = (await http.get(f"/files/{body['id']}/content")).content.decode()
    lines = [json.loads(line) for line in content.splitlines()]
    assert len(lines) == 2 and lines[0]["metadata"]["source"] == "votes"
    assert lines[0]["input"]["messages"][-1]["content"] == "Tell me about Paris."
    job = await client.fine_tuning.jobs.create(
        model=TINY,
        training_file=body["id"],
        method={"type": "dpo", "dpo": {"hyperparameters": {"n_epochs": 1}}},
    )
    done = await finished(client, job.id, 300)
    assert done.status == "succeeded", done.error
