"""The eval-run worker on the in-process stack: a run outlives its evaluator (stopped mid-run,
another one finishes it), reports progress stage by stage, and an item whose template names
a missing field errors alone while the others are graded."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from services.evaluator.server import serve as serve_evaluator
from services.evaluator.settings import EvaluatorSettings
from support.inprocess import running
from support.stack import TINY, ApiStack, api_stack

pytestmark = pytest.mark.slow
EVAL = {
    "name": "restart",
    "data_source_config": {
        "type": "custom",
        "item_schema": {"type": "object", "properties": {"q": {"type": "string"}}},
        "include_sample_schema": True,
    },
    "testing_criteria": [
        {
            "type": "string_check",
            "name": "answered",
            "input": "{{sample.output_text}}",
            "reference": "",
            "operation": "like",
        }
    ],
}


def completions(items: list[dict[str, Any]], template: str = "{{item.q}}") -> dict[str, Any]:
    return {
        "data_source": {
            "type": "completions",
            "model": TINY,
            "input_messages": {
                "type": "template",
                "template": [{"role": "user", "content": template}],
            },
            "sampling_params": {"max_completion_tokens": 8, "temperature": 1.0},
            "source": {"type": "file_content", "content": [{"item": i} for i in items]},
        }
    }


def evaluator(stack: ApiStack) -> Any:
    assert stack.gateway.grpc is not None
    common = stack.common.model_copy(
        update={
            "gateway_addr": f"127.0.0.1:{stack.gateway.grpc.port}",
            "inference_addr": f"127.0.0.1:{stack.inference.grpc.port}",  # type: ignore[union-attr]
        }
    )
    return running(
        serve_evaluator, EvaluatorSettings(grpc_port=0, shutdown_grace_s=1, common=common)
    )


async def http_client(stack: ApiStack) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=f"{stack.url}/v1",
        headers={"Authorization": f"Bearer {stack.key('acme')}"},
        timeout=60,
    )


async def run_status(http: httpx.AsyncClient, path: str, wanted: set[str]) -> dict[str, Any]:
    async with asyncio.timeout(300):
        while True:
            body: dict[str, Any] = (await http.get(path)).json()
            if body["status"] in wanted:
                return body
            await asyncio.sleep(0.2)


@pytest.fixture
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ApiStack]:
    async with api_stack(tmp_path_factory.mktemp("evalrun")) as running_stack:
        yield running_stack


async def test_a_run_survives_its_evaluator_and_reports_progress(stack: ApiStack) -> None:
    items = [{"q": f"Say something about {n}."} for n in range(48)]
    async with await http_client(stack) as http:
        eval_id = (await http.post("/evals", json=EVAL)).json()["id"]
        async with evaluator(stack):
            run = (await http.post(f"/evals/{eval_id}/runs", json=completions(items))).json()
            path = f"/evals/{eval_id}/runs/{run['id']}"
            body = await run_status(http, path, {"in_progress"})
            async with asyncio.timeout(120):  # stopped once it has answered something
                while not (body.get("progress") or {}).get("done"):
                    await asyncio.sleep(0.1)
                    body = (await http.get(path)).json()
        assert body["status"] == "in_progress"
        async with evaluator(stack):  # a fresh evaluator takes the run again
            done = await run_status(http, path, {"completed", "failed", "canceled"})
    assert done["status"] == "completed", done["error"]
    assert done["result_counts"]["total"] == len(items)
    events = stack.registry.list_events(run["id"], 0, 10_000)
    stages = [e.data["stage"] for e in events if e.type == "progress" and e.data]
    assert "sampling" in stages and stages[-1] == "grading"
    last = [e.data for e in events if e.type == "progress" and e.data][-1]
    assert (last["done"], last["total"]) == (len(items), len(items))


async def test_an_item_missing_a_field_errors_alone(stack: ApiStack) -> None:
    items = [{"q": "Hello"}, {"other": "no q here"}, {"q": "Bye"}]
    async with await http_client(stack) as http, evaluator(stack):
        eval_id = (await http.post("/evals", json=EVAL)).json()["id"]
        run = (await http.post(f"/evals/{eval_id}/runs", json=completions(items))).json()
        done = await run_status(
            http, f"/evals/{eval_id}/runs/{run['id']}", {"completed", "failed", "canceled"}
        )
        assert done["status"] == "completed", done["error"]
        assert done["result_counts"] == {"total": 3, "passed": 2, "failed": 0, "errored": 1}
        listed = (await http.get(f"/evals/{eval_id}/runs/{run['id']}/output_items")).json()
    bad = listed["data"][1]
    assert bad["status"] == "error"
    assert "'q'" in bad["sample"]["error"]["message"]
    assert bad["results"][0]["passed"] is False
