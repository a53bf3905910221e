"""Prometheus metrics on a real stack: the gateway's `/metrics` (no key) counts requests by
route template and status, and at scrape time shows jobs by kind and status; the inference
service serves its own `/metrics` port with its RPCs and generated tokens; the trainer's
worker counts the jobs it handled and the tokens it trained on. Counters are process-wide
(other tests add to them), so the checks are on differences."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from prometheus_client.parser import text_string_to_metric_families

from support.stack import TINY, ApiStack, api_stack

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ApiStack]:
    root = tmp_path_factory.mktemp("metrics")
    async with api_stack(root, trainer=True, metrics_port=0) as running:
        yield running


async def scrape(url: str) -> Samples:
    async with httpx.AsyncClient() as http:
        reply = await http.get(url)
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(reply.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def test_gateway_and_inference_metrics(stack: ApiStack) -> None:
    gateway_metrics = f"{stack.url}/metrics"
    assert stack.inference.metrics_port is not None
    inference_metrics = f"http://127.0.0.1:{stack.inference.metrics_port}/metrics"
    before, inference_before = await scrape(gateway_metrics), await scrape(inference_metrics)

    headers = {"Authorization": f"Bearer {stack.key('acme')}"}
    async with httpx.AsyncClient(base_url=f"{stack.url}/v1", headers=headers, timeout=60) as http:
        for _ in range(3):
            assert (await http.get("/models")).status_code == 200
        assert (await http.get("/files/file-nope")).status_code == 404
        chat = await http.post(
            "/chat/completions",
            json={"model": TINY, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5},
        )
        assert chat.status_code == 200, chat.text
        generated = chat.json()["usage"]["completion_tokens"]
        rows = [
            {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}
        ]
        training = await http.post(
            "/files",
            data={"purpose": "fine-tune"},
            files={"file": ("t.jsonl", "\n".join(json.dumps(r) for r in rows * 4).encode())},
        )
        job = await http.post(
            "/fine_tuning/jobs",
            json={
                "model": TINY,
                "training_file": training.json()["id"],
                "hyperparameters": {"n_epochs": 1},
            },
        )
        async with asyncio.timeout(120):
            while (await http.get(f"/fine_tuning/jobs/{job.json()['id']}")).json()[
                "status"
            ] != "succeeded":
                await asyncio.sleep(0.2)

    after = await scrape(gateway_metrics)
    requests = "tuneloop_http_requests_total"
    assert (
        value(after, requests, method="GET", route="/v1/models", status="200")
        - value(before, requests, method="GET", route="/v1/models", status="200")
        == 3
    )
    assert value(after, requests, method="GET", route="/v1/files/{file_id}", status="404") >= 1
    assert not any("file-nope" in dict(labels).get("route", "") for _, labels in after)
    assert value(after, "tuneloop_jobs", kind="fine_tune", status="succeeded") == 1
    handled = "tuneloop_jobs_handled_total"
    assert (
        value(after, handled, kind="fine_tune", outcome="ack")
        - value(before, handled, kind="fine_tune", outcome="ack")
        == 1
    )
    trained = "tuneloop_trained_tokens_total"
    assert value(after, trained, recipe="lora") > value(before, trained, recipe="lora")

    inference_after = await scrape(inference_metrics)
    rpc = {"service": "InferenceService", "method": "Generate", "code": "OK"}
    calls = "tuneloop_rpc_requests_total"
    assert value(inference_after, calls, **rpc) - value(inference_before, calls, **rpc) >= 1
    tokens = "tuneloop_generated_tokens_total"
    engine = {"engine": "TransformersEngine"}
    assert (
        value(inference_after, tokens, **engine) - value(inference_before, tokens, **engine)
        >= generated
    )
    assert value(inference_after, "tuneloop_adapters_loaded") >= 1  # the job's checkpoint
