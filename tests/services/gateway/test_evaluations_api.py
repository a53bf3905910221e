"""Evaluations end to end over real HTTP: a 2-epoch fine-tuning job on the tiny model is
evaluated (base + both checkpoints) by the evaluator's worker through the inference
service, with a judge; the report renders in headless Chromium. Bad inputs give clear
errors; a dataset without answers and a predictions file made elsewhere work too."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from rich.console import Console

from services.evaluator.metrics import score
from support.browser import chromium, requires_chromium
from support.stack import TINY, ApiStack, api_stack
from tuneloop_cli.api import Api

pytestmark = pytest.mark.asyncio(loop_scope="module")
FACTS = [
    ("函是什麼？", "函是機關之間往來的公文，依第5條辦理。"),
    ("公告給誰看？", "公告是對公眾宣布事項。"),
    ("What is 速別?", "速別 says how urgent a document is: 3 levels."),
    ("簽由誰寫？", "簽由承辦人寫給長官。"),
]


def jsonl(rows: list[Any]) -> bytes:
    return "\n".join(json.dumps(r, ensure_ascii=False) for r in rows).encode()


DATASET = jsonl(
    [
        {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}
        for q, a in FACTS
    ]
)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ApiStack]:
    root = tmp_path_factory.mktemp("eval")
    async with api_stack(root, trainer=True, evaluator=True) as running_stack:
        yield running_stack


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def http(stack: ApiStack) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {stack.key('acme')}"}
    async with httpx.AsyncClient(base_url=f"{stack.url}/v1", headers=headers, timeout=60) as c:
        yield c


async def upload(http: httpx.AsyncClient, content: bytes, name: str = "eval.jsonl") -> str:
    reply = await http.post(
        "/files", files={"file": (name, content)}, data={"purpose": "fine-tune"}
    )
    assert reply.status_code == 200, reply.text
    return str(reply.json()["id"])


async def poll(http: httpx.AsyncClient, path: str, done: set[str]) -> dict[str, Any]:
    async with asyncio.timeout(240):
        while True:
            body: dict[str, Any] = (await http.get(path)).json()
            if body["status"] in done:
                return body
            await asyncio.sleep(0.3)


def progress_of(events: list[dict[str, Any]]) -> list[tuple[str, int, int, str]]:
    """(stage, done, total, message) of each progress event, oldest first."""
    return [
        (e["data"]["stage"], int(e["data"].get("done", 0)), int(e["data"]["total"]), e["message"])
        for e in events
        if e["type"] == "progress"
    ]


def assert_counted_to_the_end(progress: list[tuple[str, int, int, str]]) -> None:
    """Each stage counts up from 0 to its total, never backwards."""
    for stage in dict.fromkeys(p[0] for p in progress):
        counts = [(done, total) for s, done, total, _ in progress if s == stage]
        dones = [done for done, _ in counts]
        assert dones[0] == 0 and dones == sorted(dones), (stage, counts)
        assert counts[-1][0] == counts[-1][1] > 0, (stage, counts)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def fine_tuned(http: httpx.AsyncClient) -> dict[str, Any]:
    """A 2-epoch job whose checkpoints the inference service serves."""
    training = await upload(http, DATASET, "train.jsonl")
    created = await http.post(
        "/fine_tuning/jobs",
        json={
            "model": TINY,
            "training_file": training,
            "suffix": "ev",
            "hyperparameters": {"n_epochs": 2, "batch_size": 2, "learning_rate_multiplier": 10},
        },
    )
    assert created.status_code == 200, created.text
    job = await poll(http, f"/fine_tuning/jobs/{created.json()['id']}", {"succeeded", "failed"})
    assert job["status"] == "succeeded", job
    wanted = {f"ft:{TINY}:acme:ev:{job['id']}:ckpt-{n}" for n in (1, 2)}
    for _ in range(100):
        if wanted <= {m["id"] for m in (await http.get("/models")).json()["data"]}:
            return job
        await asyncio.sleep(0.2)
    raise AssertionError(f"checkpoints {wanted} never served")


@pytest.mark.slow
@requires_chromium
async def test_evaluation_of_a_fine_tuning_job_and_its_report(
    http: httpx.AsyncClient, fine_tuned: dict[str, Any]
) -> None:
    dataset = await upload(http, DATASET)
    created = await http.post(
        "/evaluations",
        json={
            "fine_tuning_job": fine_tuned["id"],
            "dataset_file": dataset,
            "max_tokens": 8,
            "judge_model": TINY,
        },
    )
    assert created.status_code == 200, created.text
    assert created.json()["object"] == "evaluation"
    evaluation_id = created.json()["id"]
    assert evaluation_id.startswith("evaljob-")
    done = await poll(http, f"/evaluations/{evaluation_id}", {"succeeded", "failed"})
    assert done["status"] == "succeeded", done["error"]
    matrix = done["result"]["matrix"]
    assert [row["label"] for row in matrix] == [f"{TINY} (base)", "epoch 1", "epoch 2"]
    assert [row["epoch"] for row in matrix] == [None, 1, 2]
    assert all("rouge-l" in row["metrics"] and "bleu-4" in row["metrics"] for row in matrix)
    assert done["result"]["best_model"] in [row["model"] for row in matrix]
    assert "ROUGE-L" in done["result"]["verdict"]

    results = (await http.get(f"/evaluations/{evaluation_id}/results")).json()
    assert len(results["examples"]) == len(FACTS)
    first = results["examples"][0]
    assert first["reference"] == FACTS[0][1] and len(first["outputs"]) == 3
    assert results["judge"]["model"] == TINY and results["judge"]["pairwise"] is not None
    assert sum(results["judge"]["pairwise"]["wins"].values()) == len(FACTS)
    assert results["training"]["steps"] and results["training"]["train_loss"]
    events = (await http.get(f"/evaluations/{evaluation_id}/events")).json()["data"]
    progress = progress_of(events)
    labels = [row["label"] for row in matrix]
    assert list(dict.fromkeys(p[0] for p in progress)) == [
        *(f"generation: {label}" for label in labels),
        "metrics",
        *(f"judge: {label}" for label in labels),
        "judge: pairwise",
    ]
    assert_counted_to_the_end(progress)
    assert ("judge: epoch 2", 4, 4, "judge 4/4 for epoch 2") in progress

    report = await http.get(f"/evaluations/{evaluation_id}/report")
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/html")
    async with chromium() as browser:
        page = await browser.new_page()
        await page.set_content(report.text)
        assert await page.locator("#matrix tbody tr").count() == 3
        # A random tiny judge rarely writes a parseable score: its plot shows only if it did.
        judged = any(row["judge_mean"] is not None for row in matrix)
        for plot in ("#training-plot", "#epoch-plot", *(["#judge-plot"] if judged else [])):
            width = await page.locator(plot).evaluate("img => img.naturalWidth")
            assert width > 100, plot  # the inline PNG decoded
        assert await page.locator("#examples tbody tr").count() == len(FACTS)
        assert "Verdict" in await page.locator("body").inner_text()


async def test_bad_requests_are_clear(stack: ApiStack, http: httpx.AsyncClient) -> None:
    dataset = await upload(http, DATASET)
    unknown = await http.post("/evaluations", json={"models": ["nope"], "dataset_file": dataset})
    assert unknown.status_code == 400
    assert unknown.json()["error"]["param"] == "models"
    assert unknown.json()["error"]["code"] == "model_not_found"
    judge = await http.post(
        "/evaluations", json={"models": [TINY], "dataset_file": dataset, "judge_model": "nope"}
    )
    assert judge.json()["error"]["param"] == "judge_model"
    neither = await http.post("/evaluations", json={"models": [TINY]})
    assert neither.status_code == 400 and neither.json()["error"]["param"] == "dataset_file"
    no_job = await http.post(
        "/evaluations", json={"fine_tuning_job": "ftjob-none", "dataset_file": dataset}
    )
    assert no_job.status_code == 404
    assert no_job.json()["error"]["param"] == "fine_tuning_job"
    other = {"Authorization": f"Bearer {stack.key('other')}"}
    foreign = await http.post(
        "/evaluations", json={"models": [TINY], "dataset_file": dataset}, headers=other
    )
    assert foreign.status_code == 404 and foreign.json()["error"]["param"] == "dataset_file"
    typo = await http.post(
        "/evaluations", json={"models": [TINY], "dataset_file": dataset, "metrics": ["rouge-x"]}
    )
    failed = await poll(http, f"/evaluations/{typo.json()['id']}", {"succeeded", "failed"})
    assert failed["status"] == "failed" and failed["error"]["param"] == "metrics"
    early = await http.get(f"/evaluations/{typo.json()['id']}/report")
    assert early.status_code == 409
    hidden = await http.get(f"/evaluations/{typo.json()['id']}", headers=other)
    assert hidden.status_code == 404


async def test_progress_is_each_models_answers_then_metrics_then_judge(
    stack: ApiStack, http: httpx.AsyncClient
) -> None:
    """What a person waiting on an evaluation sees: answers n/N per model, the metrics, the
    judge, each counted to its end; the CLI prints them as plain lines into a log."""
    dataset = await upload(http, DATASET)
    created = await http.post(
        "/evaluations",
        json={"models": [TINY], "dataset_file": dataset, "max_tokens": 4, "judge_model": TINY},
    )
    assert created.status_code == 200, created.text
    path = f"/evaluations/{created.json()['id']}"
    done = await poll(http, path, {"succeeded", "failed"})
    assert done["status"] == "succeeded", done["error"]
    progress = progress_of((await http.get(f"{path}/events")).json()["data"])
    assert list(dict.fromkeys(p[0] for p in progress)) == [
        f"generation: {TINY}",
        "metrics",
        f"judge: {TINY}",
    ]
    assert_counted_to_the_end(progress)
    n = len(FACTS)
    assert progress[0] == (f"generation: {TINY}", 0, n, f"answers 0/{n} for {TINY}")
    assert progress[-1] == (f"judge: {TINY}", n, n, f"judge {n}/{n} for {TINY}")

    # The CLI's wait on the same job, with stderr a log file rather than a terminal.
    log = io.StringIO()
    api = Api(stack.url, stack.key("acme"))
    try:
        await asyncio.to_thread(
            api.wait_job, f"/v1{path}", Console(file=log, width=200), "evaluation", 0.1
        )
    finally:
        api.close()
    lines = [line for line in log.getvalue().splitlines() if line.startswith("  evaluation: ")]
    assert lines == [
        f"  evaluation: answers 0/{n} for {TINY}",
        f"  evaluation: answers {n}/{n} for {TINY}",
        "  evaluation: metrics 0/1 models",
        "  evaluation: metrics 1/1 models",
        f"  evaluation: judge 0/{n} for {TINY}",
        f"  evaluation: judge {n}/{n} for {TINY}",
    ]


async def test_questions_without_answers_are_judged(http: httpx.AsyncClient) -> None:
    questions = await upload(http, jsonl([q for q, _ in FACTS]), "questions.jsonl")
    created = await http.post(
        "/evaluations",
        json={"models": [TINY], "dataset_file": questions, "max_tokens": 4, "judge_model": TINY},
    )
    assert created.status_code == 200, created.text
    done = await poll(http, f"/evaluations/{created.json()['id']}", {"succeeded", "failed"})
    assert done["status"] == "succeeded", done["error"]
    assert done["result"]["matrix"][0]["metrics"] == {}
    assert any("no reference answers" in note for note in done["result"]["notes"])
    results = (await http.get(f"/evaluations/{created.json()['id']}/results")).json()
    assert results["metrics"] == [] and results["judge"]["model"] == TINY
    assert len(results["examples"]) == len(FACTS)


async def test_a_llamafactory_predictions_file_is_scored_as_it_is(
    http: httpx.AsyncClient,
) -> None:
    rows = [{"prompt": q, "predict": a, "label": a} for q, a in FACTS]
    rows[1]["predict"] = "完全不同"
    predictions = await upload(http, jsonl(rows), "generated_predictions.jsonl")
    created = await http.post("/evaluations", json={"predictions_file": predictions})
    assert created.status_code == 200, created.text
    done = await poll(http, f"/evaluations/{created.json()['id']}", {"succeeded", "failed"})
    assert done["status"] == "succeeded", done["error"]
    [row] = done["result"]["matrix"]
    assert row["label"] == "generated_predictions.jsonl"
    assert row["metrics"]["exact_match"] == pytest.approx(75.0)
    # LLaMA-Factory's file gets LLaMA-Factory's numbers; the language-aware ones stay beside.
    assert done["result"]["scoring"] == "llamafactory"
    sides = [r["predict"] for r in rows], [r["label"] for r in rows]
    expected = score(*sides, scoring="llamafactory")
    assert row["metrics"] == pytest.approx({name: r.corpus for name, r in expected.items()})
    assert "rouge-l (language-aware)" in row["metrics"]
    results = (await http.get(f"/evaluations/{created.json()['id']}/results")).json()
    assert results["scoring"] == "llamafactory"

    asked = await http.post(
        "/evaluations", json={"predictions_file": predictions, "scoring": "language_aware"}
    )
    done = await poll(http, f"/evaluations/{asked.json()['id']}", {"succeeded", "failed"})
    assert done["status"] == "succeeded", done["error"]
    assert done["result"]["scoring"] == "language_aware"
    assert done["result"]["matrix"][0]["metrics"] == pytest.approx(
        {name: r.corpus for name, r in score(*sides).items()}
    )
    bad = await http.post("/evaluations", json={"predictions_file": predictions, "scoring": "zh"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "scoring"
    both = await http.post("/evaluations", json={"predictions_file": predictions, "models": [TINY]})
    assert both.status_code == 400 and both.json()["error"]["param"] == "models"
