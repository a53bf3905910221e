"""Tenant isolation over every tenant-scoped endpoint: tenant A owns one of everything (a
file, fine-tuning job and its adapters, datagen job and its pairs, knowledge base and its
ingest job, evaluation, comparison, export, eval with a run and its output items); tenant B
can neither list, read, use, vote on, export nor delete any of it — every attempt answers 404
as if it did not exist, and A's objects are unchanged afterwards. The matrix is checked
against `/openapi.json`, so a new endpoint with a path parameter fails here until it is
covered."""

from __future__ import annotations

import asyncio
import io
import json
import re
import tarfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from support.fake_teacher import as_json, fake_teacher
from support.stack import TINY, ApiStack, api_stack
from support.tiny_model import build_tiny_adapter
from tuneloop_core import basemodels

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]
FINISHED = {"succeeded", "failed", "cancelled", "completed", "canceled"}
DATASET = "\n".join(
    json.dumps({"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]})
    for q, a in [("函是什麼？", "函是機關之間往來的公文。"), ("公告給誰看？", "公告給公眾看。")]
).encode()
DOCUMENT = "# 公文\n\n函是機關之間往復的公文。\n".encode()
EVAL = {
    "name": "iso",
    "data_source_config": {
        "type": "custom",
        "item_schema": {"type": "object", "properties": {"answer": {"type": "string"}}},
        "include_sample_schema": True,
    },
    "testing_criteria": [
        {
            "type": "string_check",
            "name": "same",
            "input": "{{sample.output_text}}",
            "reference": "{{item.answer}}",
            "operation": "eq",
        }
    ],
}
EVAL_RUN = {
    "data_source": {
        "type": "jsonl",
        "source": {
            "type": "file_content",
            "content": [{"item": {"answer": "函"}, "sample": {"output_text": "函"}}],
        },
    }
}


def teacher(prompt: str, temperature: float) -> str | int | float:
    if prompt.startswith("請評分"):
        return as_json({"score": 4, "reason": "ok"})
    return as_json(
        {"pairs": [{"question": "函是什麼樣的公文？", "answer": "函是機關之間往復的公文。"}]}
    )


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ApiStack]:
    root = tmp_path_factory.mktemp("isolation")
    async with api_stack(root, trainer=True, evaluator=True, datagen=True) as running:
        yield running


async def finished(http: httpx.AsyncClient, path: str) -> dict[str, Any]:
    async with asyncio.timeout(240):
        while True:
            body: dict[str, Any] = (await http.get(path)).json()
            if body.get("status") in FINISHED:
                return body
            await asyncio.sleep(0.25)


async def created(http: httpx.AsyncClient, path: str, body: dict[str, Any]) -> str:
    reply = await http.post(path, json=body)
    assert reply.status_code == 200, (path, reply.text)
    return str(reply.json()["id"])


async def upload(http: httpx.AsyncClient, name: str, content: bytes, purpose: str) -> str:
    reply = await http.post("/files", data={"purpose": purpose}, files={"file": (name, content)})
    assert reply.status_code == 200, reply.text
    return str(reply.json()["id"])


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def owned(stack: ApiStack) -> AsyncIterator[dict[str, str]]:
    """Tenant A's objects by name, each one finished where it runs as a job."""
    headers = {"Authorization": f"Bearer {stack.key('tenant-a')}"}
    async with httpx.AsyncClient(base_url=f"{stack.url}/v1", headers=headers, timeout=60) as a:
        ids: dict[str, str] = {}
        ids["file"] = await upload(a, "train.jsonl", DATASET, "fine-tune")
        ids["document"] = await upload(a, "公文.md", DOCUMENT, "datagen")
        ids["fine_tune"] = await created(
            a,
            "/fine_tuning/jobs",
            {
                "model": TINY,
                "training_file": ids["file"],
                "suffix": "iso",
                "hyperparameters": {"n_epochs": 1, "batch_size": 2},
            },
        )
        tuned = await finished(a, f"/fine_tuning/jobs/{ids['fine_tune']}")
        assert tuned["status"] == "succeeded", tuned
        ids["model"] = tuned["fine_tuned_model"]
        for _ in range(100):  # hot-loaded by the inference service
            if ids["model"] in {m["id"] for m in (await a.get("/models")).json()["data"]}:
                break
            await asyncio.sleep(0.2)
        with fake_teacher(teacher) as (url, _):
            ids["datagen"] = await created(
                a,
                "/datagen/jobs",
                {
                    "file_ids": [ids["document"]],
                    "teacher": {"model": "t", "base_url": url},
                    "mode": "free",
                },
            )
            assert (await finished(a, f"/datagen/jobs/{ids['datagen']}"))["status"] == "succeeded"
        pairs = (await a.get(f"/datagen/jobs/{ids['datagen']}/pairs")).json()["data"]
        ids["pair"] = pairs[0]["id"]
        ids["knowledge_base"] = await created(a, "/knowledge_bases", {"name": "公文"})
        knowledge = await upload(a, "kb.md", DOCUMENT, "knowledge")
        ingest = await a.post(
            f"/knowledge_bases/{ids['knowledge_base']}/documents", json={"file_ids": [knowledge]}
        )
        assert ingest.status_code == 200, ingest.text
        ids["ingest"] = ingest.json()["id"]
        await finished(a, f"/knowledge_bases/ingest_jobs/{ids['ingest']}")
        ids["evaluation"] = await created(
            a,
            "/evaluations",
            {"fine_tuning_job": ids["fine_tune"], "dataset_file": ids["file"], "max_tokens": 4},
        )
        await finished(a, f"/evaluations/{ids['evaluation']}")
        ids["comparison"] = await created(
            a, "/comparisons", {"models": [TINY, ids["model"]], "questions": ["函是什麼？"]}
        )
        await finished(a, f"/comparisons/{ids['comparison']}")
        ids["export"] = await created(a, "/exports", {"model": ids["model"]})
        ids["eval"] = await created(a, "/evals", EVAL)
        ids["eval_run"] = await created(a, f"/evals/{ids['eval']}/runs", EVAL_RUN)
        await finished(a, f"/evals/{ids['eval']}/runs/{ids['eval_run']}")
        items = await a.get(f"/evals/{ids['eval']}/runs/{ids['eval_run']}/output_items")
        ids["output_item"] = items.json()["data"][0]["id"]
        ids["adapter"] = await imported_adapter(stack, a)
        batch_line = {"custom_id": "1", "method": "POST", "url": "/v1/chat/completions",
                      "body": {"model": TINY, "messages": [_hi()], "max_tokens": 2}}  # fmt: skip
        requests = await upload(a, "requests.jsonl", json.dumps(batch_line).encode(), "batch")
        ids["batch"] = await created(
            a, "/batches", {"input_file_id": requests, "endpoint": "/v1/chat/completions"}
        )
        await finished(a, f"/batches/{ids['batch']}")
        ids["response"] = await created(
            a, "/responses", {"model": TINY, "input": "hi", "max_output_tokens": 2}
        )
        yield ids


async def imported_adapter(stack: ApiStack, a: httpx.AsyncClient) -> str:
    """A LoRA adapter made outside Tuneloop, imported by tenant A (POST /v1/adapters)."""
    base = Path(basemodels.resolve(TINY, stack.common.data_dir).path)
    folder = build_tiny_adapter(base, stack.common.data_dir.parent / "outside" / "lora")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(folder, arcname="lora")
    reply = await a.post(
        "/adapters",
        files={"file": ("lora.tar.gz", buffer.getvalue())},
        data={"base_model": TINY, "name": "tenant-a-lora"},
    )
    assert reply.status_code == 200, reply.text
    return str(reply.json()["id"])


def parameter_values(path: str, ids: dict[str, str]) -> dict[str, str]:
    """Tenant A's id for each parameter of an API path."""
    by_prefix = [
        ("/v1/files/", "file"),
        ("/v1/fine_tuning/jobs/", "fine_tune"),
        ("/v1/knowledge_bases/ingest_jobs/", "ingest"),
        ("/v1/knowledge_bases/", "knowledge_base"),
        ("/v1/comparisons/", "comparison"),
        ("/v1/exports/", "export"),
        ("/v1/evaluations/", "evaluation"),
        ("/v1/datagen/jobs/", "datagen"),
        ("/v1/models/", "model"),
        ("/v1/evals/", "eval"),
        ("/v1/adapters/", "adapter"),
        ("/v1/batches/", "batch"),
        ("/v1/responses/", "response"),
    ]
    owner = next(name for prefix, name in by_prefix if path.startswith(prefix))
    own = {"pair_id": "pair", "run_id": "eval_run", "output_item_id": "output_item"}
    return {p: ids[own.get(p, owner)] for p in re.findall(r"{(\w+)}", path)}


BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("post", "/v1/comparisons/{comparison_id}/votes"): {"question_index": 0, "model": TINY},
    ("patch", "/v1/datagen/jobs/{job_id}/pairs/{pair_id}"): {"dropped": True},
    ("post", "/v1/datagen/jobs/{job_id}/dataset"): {},
    ("post", "/v1/knowledge_bases/{knowledge_base_id}/search"): {"query": "函"},
    ("post", "/v1/knowledge_bases/{knowledge_base_id}/documents"): {"file_ids": ["OWN_FILE"]},
    ("post", "/v1/evals/{eval_id}"): {"name": "taken"},
    ("post", "/v1/evals/{eval_id}/runs"): EVAL_RUN,
}


async def test_tenant_b_cannot_reach_anything_of_tenant_a(
    stack: ApiStack, owned: dict[str, str]
) -> None:
    a_headers = {"Authorization": f"Bearer {stack.key('tenant-a')}"}
    b_headers = {"Authorization": f"Bearer {stack.key('tenant-b')}"}
    async with (
        httpx.AsyncClient(base_url=stack.url, headers=a_headers, timeout=60) as a,
        httpx.AsyncClient(base_url=stack.url, headers=b_headers, timeout=60) as b,
    ):
        reply = await b.post(
            "/v1/files", data={"purpose": "knowledge"}, files={"file": ("mine.md", DOCUMENT)}
        )
        own_file = reply.json()["id"]  # tenant B's own, to use with A's knowledge base
        before = {p: (await a.get(p)).json() for p in _readable(owned)}
        schema = (await b.get("/openapi.json")).json()
        checked = set()
        for path, operations in schema["paths"].items():
            if "{" not in path or path.startswith("/api/"):
                continue  # Ollama's /api/* names models in bodies: see `uses` below
            url = path.format(**parameter_values(path, owned))
            for method in operations:
                body = BODIES.get((method, path))
                if body and body.get("file_ids") == ["OWN_FILE"]:
                    body = {"file_ids": [own_file]}
                reply = await b.request(method.upper(), url, json=body)
                assert reply.status_code == 404, (method, url, reply.text)
                assert "not_found" in reply.json()["error"]["code"], reply.text
                checked.add((method, path))
        assert len(checked) >= 30, checked  # every parameterised operation of the API

        # Lists show nothing of A's.
        for path in ["/v1/files", "/v1/fine_tuning/jobs", "/v1/knowledge_bases", "/v1/comparisons",
                     "/v1/exports", "/v1/evaluations", "/v1/datagen/jobs", "/v1/batches",
                     "/v1/knowledge_bases/ingest_jobs", "/v1/models", "/v1/evals",
                     "/v1/adapters", "/api/tags", "/api/ps"]:  # fmt: skip
            listed = json.dumps((await b.get(path)).json())
            leaked = [name for name, value in owned.items() if value in listed]
            assert not leaked, (path, leaked)

        # Using A's objects by id in a request body is refused the same way.
        uses: list[tuple[str, dict[str, Any]]] = [
            ("/v1/chat/completions", {"model": owned["model"], "messages": [_hi()]}),
            ("/v1/completions", {"model": owned["model"], "prompt": "hi"}),
            ("/v1/fine_tuning/jobs", {"model": TINY, "training_file": owned["file"]}),
            ("/v1/datasets/validate", {"file_id": owned["file"]}),
            ("/v1/datagen/jobs", {"file_ids": [owned["document"]], "teacher": {"model": TINY}}),
            ("/v1/evaluations", {"fine_tuning_job": owned["fine_tune"], "dataset_file": own_file}),
            ("/v1/comparisons", {"models": [TINY, owned["model"]], "questions": ["q"]}),
            ("/v1/exports", {"model": owned["model"]}),
            ("/v1/exports", {"model": owned["adapter"]}),
            ("/v1/chat/completions", {"model": owned["adapter"], "messages": [_hi()]}),
            ("/api/chat", {"model": owned["model"], "messages": [_hi()], "stream": False}),
            ("/api/generate", {"model": owned["adapter"], "prompt": "hi", "stream": False}),
            ("/api/show", {"model": owned["model"]}),
            ("/v1/batches", {"input_file_id": owned["file"], "endpoint": "/v1/chat/completions"}),
            (
                "/v1/responses",
                {"model": TINY, "input": "hi", "previous_response_id": owned["response"]},
            ),
            ("/v1/evals", {**EVAL, "testing_criteria": [_judge(owned["model"])]}),
            (
                "/v1/fine_tuning/alpha/graders/run",
                {"grader": _judge(owned["model"]), "model_sample": "函"},
            ),
            (
                "/v1/chat/completions",
                {"model": TINY, "messages": [_hi()], "knowledge_base": owned["knowledge_base"]},
            ),
        ]
        for path, body in uses:
            reply = await b.post(path, json=body)
            assert reply.status_code in (400, 404), (path, reply.text)
            assert reply.status_code != 200 and _names_none_of(reply.text, owned, body), reply.text

        after = {p: (await a.get(p)).json() for p in _readable(owned)}
    assert after == before  # nothing of A's changed (no vote, no drop, no cancel)


def _readable(ids: dict[str, str]) -> list[str]:
    return [
        f"/v1/files/{ids['file']}",
        f"/v1/fine_tuning/jobs/{ids['fine_tune']}",
        f"/v1/models/{ids['model']}",
        f"/v1/datagen/jobs/{ids['datagen']}/pairs",
        f"/v1/knowledge_bases/{ids['knowledge_base']}",
        f"/v1/comparisons/{ids['comparison']}/votes",
        f"/v1/evaluations/{ids['evaluation']}",
        f"/v1/evals/{ids['eval']}",
        f"/v1/evals/{ids['eval']}/runs/{ids['eval_run']}",
        f"/v1/adapters/{ids['adapter']}",
        f"/v1/batches/{ids['batch']}",
        f"/v1/responses/{ids['response']}",
    ]


def _judge(model: str) -> dict[str, Any]:
    """A score_model grader on `model`."""
    return {
        "type": "score_model",
        "name": "judge",
        "model": model,
        "input": [{"role": "user", "content": "{{sample.output_text}}"}],
    }


def _hi() -> dict[str, str]:
    return {"role": "user", "content": "hi"}


def _names_none_of(text: str, ids: dict[str, str], body: dict[str, Any]) -> bool:
    """An error may repeat the id B sent, never another of A's ids."""
    sent = json.dumps(body)
    return not [v for v in ids.values() if v in text and v not in sent]
