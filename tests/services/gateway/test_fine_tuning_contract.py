"""A fine-tuning request becomes one typed FineTuneJobSpec on the JOBS queue (no trainer
runs here): "auto" stays unset, the API shows the same job, a resume queues the same spec."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from pathlib import Path

import openai
import pytest
from nats.js import JetStreamContext

from support.stack import TINY, ApiStack, api_stack
from tuneloop.events.v1 import events_pb2
from tuneloop_core.bus import subjects

ROWS = [{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}]


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[ApiStack]:
    async with api_stack(tmp_path) as running:
        yield running


async def queued(js: JetStreamContext) -> events_pb2.JobRequested:
    raw = await js.get_last_msg(subjects.STREAM_JOBS, "jobs.fine_tune.requested")
    return events_pb2.JobRequested.FromString(raw.data or b"")


async def test_request_to_typed_spec_and_back_to_the_same_api_object(stack: ApiStack) -> None:
    assert stack.gateway.nats is not None
    js = stack.gateway.nats.jetstream()
    client = openai.AsyncOpenAI(
        base_url=f"{stack.url}/v1", api_key=stack.key("acme"), max_retries=0
    )
    content = "\n".join(json.dumps(r) for r in ROWS * 4).encode()
    file_id = (
        await client.files.create(file=("t.jsonl", io.BytesIO(content)), purpose="fine-tune")
    ).id
    job = await client.fine_tuning.jobs.create(
        model=TINY,
        training_file=file_id,
        suffix="demo",
        hyperparameters={"n_epochs": 3},
        extra_body={"method": {"type": "supervised", "supervised": {"lora_rank": 8}}},
    )

    request = await queued(js)
    assert (request.job_id, request.attempt) == (job.id, 1)
    assert request.WhichOneof("spec") == "fine_tune"
    spec = request.fine_tune
    assert (spec.base_model, spec.training_file, spec.suffix) == (TINY, file_id, "demo")
    assert spec.tenant_name == "acme"  # the file travels by id; the trainer resolves it
    assert spec.hyperparameters.n_epochs == 3
    assert not spec.hyperparameters.HasField("batch_size")  # "auto"
    assert not spec.hyperparameters.HasField("learning_rate_multiplier")
    assert spec.method.lora_rank == 8 and not spec.method.HasField("lora_alpha")
    assert spec.seed == 42

    shown = await client.get(f"/fine_tuning/jobs/{job.id}", cast_to=object)
    assert shown["hyperparameters"] == {  # type: ignore[index]
        "n_epochs": 3,
        "batch_size": "auto",
        "learning_rate_multiplier": "auto",
    }
    assert shown["seed"] == 42 and shown["user_provided_suffix"] == "demo"  # type: ignore[index]
    assert shown["method"] == {  # type: ignore[index]
        "type": "supervised",
        "supervised": {"lora_rank": 8, "hyperparameters": shown["hyperparameters"]},  # type: ignore[index]
    }
    assert shown["validation_file"] is None and shown["model"] == TINY  # type: ignore[index]

    await client.post(f"/fine_tuning/jobs/{job.id}/pause", cast_to=object)
    resumed = await client.post(f"/fine_tuning/jobs/{job.id}/resume", cast_to=object)
    assert resumed["status"] == "queued"  # type: ignore[index]
    again = await queued(js)
    assert (again.job_id, again.attempt) == (job.id, 2)
    assert again.fine_tune == spec


async def test_bad_hyperparameters_keep_their_messages(stack: ApiStack) -> None:
    client = openai.AsyncOpenAI(
        base_url=f"{stack.url}/v1", api_key=stack.key("acme"), max_retries=0
    )
    for given, message in [
        ({"n_epochs": 0}, "n_epochs must be 'auto' or between 1 and 50"),
        ({"batch_size": 10**12}, "batch_size must be 'auto' or between 1 and 256"),
        ({"learning_rate_multiplier": 11}, "learning_rate_multiplier must be 'auto' or in (0, 10]"),
    ]:
        with pytest.raises(openai.BadRequestError) as caught:
            await client.fine_tuning.jobs.create(
                model=TINY,
                training_file="file-unchecked-yet",
                hyperparameters=given,  # type: ignore[arg-type]
            )
        assert caught.value.body["message"] == message  # type: ignore[index]
        assert caught.value.body["param"] == f"hyperparameters.{next(iter(given))}"  # type: ignore[index]
