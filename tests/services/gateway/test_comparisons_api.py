"""A comparison end to end over real HTTP: the gateway queues it, the evaluator's worker has
the tiny base model and a LoRA adapter answer every question through the inference
service, people vote, and the CSV opens with the csv module."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from services.gateway.comparisons.service import csv_cell
from support.stack import TINY, ApiStack, api_stack
from support.tiny_model import build_tiny_adapter
from tuneloop.common.v1 import common_pb2
from tuneloop.events.v1 import events_pb2
from tuneloop_core import basemodels
from tuneloop_core.bus.publish import EventPublisher

pytestmark = pytest.mark.asyncio(loop_scope="module")
ADAPTER = f"ft:{TINY}:acme:cmp:ftjob-cmp:ckpt-1"
QUESTIONS = ["公文的主旨應該怎麼寫？", "Hello", "=1+1 is a formula in a spreadsheet"]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ApiStack]:
    async with api_stack(tmp_path_factory.mktemp("cmp"), evaluator=True) as running_stack:
        await add_adapter(running_stack)
        yield running_stack


async def add_adapter(stack: ApiStack) -> None:
    """Save a LoRA adapter and announce it as a training job would; wait until served."""
    base_dir = Path(basemodels.resolve(TINY, stack.common.data_dir).path)
    path = build_tiny_adapter(base_dir, stack.common.data_dir / "artifacts" / "ftjob-cmp" / "c1")
    assert stack.gateway.nats is not None
    events = EventPublisher(
        stack.gateway.nats.jetstream(), common_pb2.JOB_KIND_FINE_TUNE, "ftjob-cmp"
    )
    await events.publish(
        "epoch 1 saved",
        checkpoint_saved=events_pb2.CheckpointSaved(
            checkpoint_id="ckpt-1",
            model_name=ADAPTER,
            base_model=TINY,
            path=str(path.relative_to(stack.common.data_dir)),
            epoch=1,
            tenant_id=stack.registry.ensure_tenant("acme").id,
        ),
    )
    key = stack.key("acme")
    async with httpx.AsyncClient(base_url=stack.url, headers=auth(key)) as http:
        for _ in range(200):
            models = (await http.get("/v1/models")).json()["data"]
            if ADAPTER in [m["id"] for m in models]:
                return
            await asyncio.sleep(0.1)
    raise AssertionError("the adapter was never served")


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def http(stack: ApiStack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.url, headers=auth(stack.key("acme"))) as client:
        yield client


async def finished(http: httpx.AsyncClient, comparison_id: str) -> dict[str, Any]:
    for _ in range(600):
        body: dict[str, Any] = (await http.get(f"/v1/comparisons/{comparison_id}")).json()
        if body["status"] in ("succeeded", "failed", "cancelled"):
            return body
        await asyncio.sleep(0.1)
    raise AssertionError(f"comparison {comparison_id} did not finish: {body}")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def comparison(http: httpx.AsyncClient) -> dict[str, Any]:
    """A comparison of the base model and the adapter on questions from an uploaded file."""
    upload = await http.post(
        "/v1/files",
        files={"file": ("questions.json", json.dumps(QUESTIONS, ensure_ascii=False).encode())},
        data={"purpose": "evals"},
    )
    created = await http.post(
        "/v1/comparisons",
        json={
            "models": [TINY, ADAPTER],
            "questions_file": upload.json()["id"],
            "max_tokens": 8,
            "system": "Answer briefly.",
        },
    )
    assert created.status_code == 200, created.text
    assert created.json()["id"].startswith("cmpjob-")
    assert created.json()["object"] == "comparison"
    assert created.json()["spec"]["questions"] == QUESTIONS
    return await finished(http, created.json()["id"])


async def test_every_model_answers_every_question(
    http: httpx.AsyncClient, comparison: dict[str, Any]
) -> None:
    assert comparison["status"] == "succeeded", comparison["error"]
    assert comparison["models"] == [TINY, ADAPTER]
    rows = comparison["rows"]
    assert [r["question"] for r in rows] == QUESTIONS
    assert [r["question_index"] for r in rows] == [0, 1, 2]
    for row in rows:
        assert [a["model"] for a in row["answers"]] == [TINY, ADAPTER]
        assert all(isinstance(a["text"], str) and a["votes"] == 0 for a in row["answers"])
    # Greedy decoding: the adapter's random LoRA weights change what it says.
    assert any(r["answers"][0]["text"] != r["answers"][1]["text"] for r in rows)

    listed = (await http.get("/v1/comparisons")).json()["data"]
    assert comparison["id"] in [c["id"] for c in listed]
    events = (await http.get(f"/v1/comparisons/{comparison['id']}/events")).json()["data"]
    progress = [e["data"] for e in events if e["type"] == "progress"]
    assert progress[-1] == {"stage": "answers", "done": 6, "total": 6}


async def test_votes_are_counted_once_per_key_and_can_be_withdrawn(
    stack: ApiStack, http: httpx.AsyncClient, comparison: dict[str, Any]
) -> None:
    votes_url = f"/v1/comparisons/{comparison['id']}/votes"
    colleague = auth(stack.key("acme"))  # another key of the same tenant

    async def vote(body: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
        response = await http.post(votes_url, json=body, headers=headers)
        assert response.status_code == 200, response.text
        return response.json()

    first = await vote({"question_index": 0, "model": TINY})
    assert first["voted"] and first["votes"] == 1 and first["object"] == "comparison.vote"
    assert (await vote({"question_index": 0, "model": TINY}))["votes"] == 1  # idempotent
    assert (await vote({"question_index": 0, "model": TINY}, colleague))["votes"] == 2
    await vote({"question_index": 1, "model": ADAPTER})

    tallies = (await http.get(votes_url)).json()
    assert tallies["total"] == 3
    assert tallies["by_model"] == {TINY: 2, ADAPTER: 1}
    assert tallies["by_question"][0]["votes"] == {TINY: 2, ADAPTER: 0}
    assert tallies["by_question"][2]["votes"] == {TINY: 0, ADAPTER: 0}
    assert tallies["yours"] == [
        {"question_index": 0, "model": TINY},
        {"question_index": 1, "model": ADAPTER},
    ]

    withdrawn = await vote({"question_index": 0, "model": TINY, "withdraw": True})
    assert not withdrawn["voted"] and withdrawn["votes"] == 1
    assert (await vote({"question_index": 0, "model": TINY, "withdraw": True}))["votes"] == 1
    shown = (await http.get(f"/v1/comparisons/{comparison['id']}")).json()
    assert shown["votes_by_model"] == {TINY: 1, ADAPTER: 1}
    assert [a["votes"] for a in shown["rows"][0]["answers"]] == [1, 0]

    for body, param in (
        ({"question_index": 3, "model": TINY}, "question_index"),
        ({"question_index": 0, "model": "nope"}, "model"),
        ({"question_index": -1, "model": TINY}, "question_index"),
    ):
        response = await http.post(votes_url, json=body)
        assert response.status_code == 400 and response.json()["error"]["param"] == param

    other = auth(stack.key("globex"))
    for response in (
        await http.get(f"/v1/comparisons/{comparison['id']}", headers=other),
        await http.post(votes_url, json={"question_index": 0, "model": TINY}, headers=other),
        await http.get(votes_url, headers=other),
        await http.get(f"/v1/comparisons/{comparison['id']}/export.csv", headers=other),
    ):
        assert response.status_code == 404


async def test_csv_export_has_one_row_per_question(
    http: httpx.AsyncClient, comparison: dict[str, Any]
) -> None:
    response = await http.get(f"/v1/comparisons/{comparison['id']}/export.csv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"].startswith("attachment;")
    assert response.content.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs for UTF-8
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"), newline="")))
    header = ["question", f"{TINY} answer", f"{TINY} votes", f"{ADAPTER} answer"]
    assert rows[0] == [*header, f"{ADAPTER} votes"]
    assert len(rows) == 1 + len(QUESTIONS)
    assert [r[0] for r in rows[1:]] == [csv_cell(q) for q in QUESTIONS]
    assert rows[3][0] == "'=1+1 is a formula in a spreadsheet"  # never run as a formula
    for row, shown in zip(rows[1:], comparison["rows"], strict=True):
        assert row[1] == csv_cell(shown["answers"][0]["text"])
        assert row[3] == csv_cell(shown["answers"][1]["text"])
        assert row[2].isdigit() and row[4].isdigit()
