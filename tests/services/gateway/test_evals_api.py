"""OpenAI's Evals API through the unmodified `openai` SDK, end to end: the gateway stores the
eval, the evaluator's worker has SmolLM2-135M (the bundled model) answer and grades with
string_check, text_similarity and score_model (constrained to {"result": n}), and the output
items, per-criterion counts and the HTML report come back. A jsonl run grades external
answers with no model call; graders run one at a time; bad input is a 400 naming the field."""

from __future__ import annotations

import asyncio
import io
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import openai
import pytest
import pytest_asyncio

from support.sandbox_limits import STOPPED_BY_A_LIMIT
from support.smollm2 import SERVED_AS, pulled_smollm2
from support.stack import ApiStack, api_stack

pytestmark = [
    pytest.mark.slow,
    pytest.mark.asyncio(loop_scope="module"),
    # The SDK warns that OpenAI's own Evals closed; that is why this API is here.
    pytest.mark.filterwarnings("ignore:The Evals API is deprecated"),
]
ITEM_SCHEMA = {
    "type": "object",
    "properties": {"question": {"type": "string"}, "answer": {"type": "string"}},
    "required": ["question", "answer"],
}
ITEMS = [
    {"question": "What is the capital of France?", "answer": "Paris"},
    {"question": "公文的主旨是什麼？", "answer": "主旨是公文的目的與期望。"},
    {"question": "What is 2 + 2?", "answer": "4"},
    {"question": "Name a colour of the sky.", "answer": "blue"},
]
CRITERIA: list[dict[str, Any]] = [
    {
        "type": "string_check",
        "name": "mentions the answer",
        "input": "{{sample.output_text}}",
        "reference": "{{item.answer}}",
        "operation": "ilike",
    },
    {
        "type": "text_similarity",
        "name": "close to the answer",
        "input": "{{sample.output_text}}",
        "reference": "{{item.answer}}",
        "evaluation_metric": "rouge_l",
        "pass_threshold": 0.3,
    },
    {
        "type": "score_model",
        "name": "judge",
        "model": SERVED_AS,
        "input": [
            {"role": "system", "content": "Score the answer from 0 to 1."},
            {
                "role": "user",
                "content": "Question: {{item.question}}\nExpected: {{item.answer}}\n"
                "Answer: {{sample.output_text}}",
            },
        ],
        "range": [0, 1],
        "pass_threshold": 0.5,
    },
]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ApiStack]:
    async with api_stack(
        tmp_path_factory.mktemp("evals"), evaluator=True, models={SERVED_AS: pulled_smollm2()}
    ) as running:
        yield running


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def client(stack: ApiStack) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(
        base_url=f"{stack.url}/v1", api_key=stack.key("acme"), max_retries=0
    ) as sdk:
        yield sdk


async def finished(client: openai.AsyncOpenAI, eval_id: str, run_id: str) -> Any:
    async with asyncio.timeout(600):
        while True:
            run = await client.evals.runs.retrieve(run_id, eval_id=eval_id)
            if run.status in ("completed", "failed", "canceled"):
                return run
            await asyncio.sleep(0.5)


async def create_eval(client: openai.AsyncOpenAI, **overrides: Any) -> Any:
    body: dict[str, Any] = {
        "name": "capitals",
        "data_source_config": {
            "type": "custom",
            "item_schema": ITEM_SCHEMA,
            "include_sample_schema": True,
        },
        "testing_criteria": CRITERIA,
        "metadata": {"team": "legal"},
    }
    body.update(overrides)
    return await client.evals.create(**body)


async def test_completions_run_grades_every_item_with_every_criterion(
    client: openai.AsyncOpenAI, stack: ApiStack
) -> None:
    created = await create_eval(client)
    assert created.id.startswith("eval-") and created.name == "capitals"
    assert created.data_source_config.type == "custom"
    assert [c.name for c in created.testing_criteria] == [c["name"] for c in CRITERIA]
    assert (await client.evals.retrieve(created.id)).metadata == {"team": "legal"}

    run = await client.evals.runs.create(
        created.id,
        name="smollm2 on capitals",
        data_source={
            "type": "completions",
            "model": SERVED_AS,
            "input_messages": {
                "type": "template",
                "template": [
                    {"role": "system", "content": "Answer in a few words."},
                    {"role": "user", "content": "{{item.question}}"},
                ],
            },
            "sampling_params": {"max_completion_tokens": 24, "temperature": 0},
            "source": {"type": "file_content", "content": [{"item": i} for i in ITEMS]},
        },
    )
    assert run.status in ("queued", "in_progress")
    done = await finished(client, created.id, run.id)
    assert done.status == "completed", done.error
    assert done.result_counts.total == 4
    counts = done.result_counts
    assert counts.passed + counts.failed + counts.errored == 4 and counts.errored == 0
    assert [r.testing_criteria for r in done.per_testing_criteria_results] == [
        c["name"] for c in CRITERIA
    ]
    assert all(r.passed + r.failed == 4 for r in done.per_testing_criteria_results)
    assert done.per_model_usage[0].model_name == SERVED_AS
    assert done.per_model_usage[0].completion_tokens > 0

    items = [i async for i in client.evals.runs.output_items.list(done.id, eval_id=created.id)]
    assert [i.datasource_item for i in items] == ITEMS
    for item in items:
        assert len(item.results) == 3
        assert item.sample.output[0].content  # the model answered
        assert item.sample.model == SERVED_AS
        judge = item.results[2]
        assert 0.0 <= judge.score <= 1.0 and judge.passed == (judge.score >= 0.5)
        mention = item.results[0]
        expected = item.datasource_item["answer"].casefold()
        assert mention.passed == (expected in item.sample.output[0].content.casefold())
    one = await client.evals.runs.output_items.retrieve(
        items[1].id, eval_id=created.id, run_id=done.id
    )
    assert one.datasource_item == ITEMS[1]
    assert "jieba" in json.dumps(one.results[1].model_dump(), ensure_ascii=False)

    key = stack.key("acme")
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {key}"}) as http:
        report = await http.get(f"{stack.url}{done.report_url}")
        events = await http.get(f"{stack.url}/v1/evals/{created.id}/runs/{done.id}/events")
    assert report.status_code == 200 and "smollm2 on capitals" in report.text
    progress = [e["data"] for e in events.json()["data"] if e["type"] == "progress"]
    assert progress[0]["stage"] == "sampling" and progress[-1]["stage"] == "grading"
    assert (progress[-1]["done"], progress[-1]["total"]) == (4, 4)
    listed = [r.id async for r in client.evals.runs.list(created.id)]
    assert listed == [done.id]


async def test_jsonl_run_grades_given_answers_without_a_model(client: openai.AsyncOpenAI) -> None:
    created = await create_eval(client, testing_criteria=CRITERIA[:2])
    answers = ["Paris", "不知道", "4", "green"]  # rows 0 and 2 match exactly
    lines = "".join(
        json.dumps({"item": item, "sample": {"output_text": a}}, ensure_ascii=False) + "\n"
        for item, a in zip(ITEMS, answers, strict=True)
    )
    file = await client.files.create(
        file=("answers.jsonl", io.BytesIO(lines.encode())), purpose="evals"
    )
    run = await client.evals.runs.create(
        created.id,
        data_source={"type": "jsonl", "source": {"type": "file_id", "id": file.id}},
    )
    done = await finished(client, created.id, run.id)
    assert done.status == "completed", done.error
    check = done.per_testing_criteria_results[0]
    assert (check.passed, check.failed) == (2, 2)
    assert done.result_counts.total == 4 and done.per_model_usage == []
    failed = [
        i.datasource_item_id
        async for i in client.evals.runs.output_items.list(
            done.id, eval_id=created.id, status="fail"
        )
    ]
    assert failed == [1, 3]


@pytest.mark.parametrize(
    ("change", "param"),
    [
        (
            {"testing_criteria": [{**CRITERIA[0], "reference": "{{item.reply}}"}]},
            "testing_criteria[0]",
        ),
        ({"testing_criteria": [{**CRITERIA[0], "type": "regex_check"}]}, "testing_criteria.0"),
        (
            {
                "testing_criteria": [
                    {
                        "type": "python",
                        "name": "bad",
                        "source": "def grade(sample, item)\n  return 1",
                    }
                ]
            },
            "testing_criteria[0].source",
        ),
        ({"testing_criteria": [{**CRITERIA[2], "model": "gpt-4o"}]}, "testing_criteria[0].model"),
    ],
    ids=["template-field", "grader-type", "python-syntax", "unseen-model"],
)
async def test_bad_evals_are_refused_with_the_field_named(
    client: openai.AsyncOpenAI, change: dict[str, Any], param: str
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await create_eval(client, **change)
    body = caught.value.body
    assert isinstance(body, dict) and body["param"] == param, body
    assert body["type"] == "invalid_request_error" and body["message"]


async def test_runs_refuse_bad_sources_and_unknown_models(client: openai.AsyncOpenAI) -> None:
    created = await create_eval(client, testing_criteria=CRITERIA[:1])
    with pytest.raises(openai.BadRequestError) as caught:
        await client.evals.runs.create(
            created.id,
            data_source={
                "type": "completions",
                "model": "no-such-model",
                "input_messages": {
                    "type": "template",
                    "template": [{"role": "user", "content": "{{item.question}}"}],
                },
                "source": {"type": "file_content", "content": [{"item": ITEMS[0]}]},
            },
        )
    assert caught.value.body["param"] == "data_source.model"  # type: ignore[index]
    with pytest.raises(openai.BadRequestError) as caught:
        await client.evals.runs.create(
            created.id,
            data_source={
                "type": "completions",
                "model": SERVED_AS,
                "input_messages": {
                    "type": "template",
                    "template": [{"role": "user", "content": "{{item.prompt}}"}],
                },
                "source": {"type": "file_content", "content": [{"item": ITEMS[0]}]},
            },
        )
    assert caught.value.body["param"] == "data_source.input_messages.template[0].content"  # type: ignore[index]
    with pytest.raises(openai.NotFoundError):
        await client.evals.runs.retrieve("evalrun-nope", eval_id=created.id)


async def test_cancel_and_delete(client: openai.AsyncOpenAI) -> None:
    created = await create_eval(client, testing_criteria=CRITERIA[:1])
    many = [{"item": ITEMS[i % 4]} for i in range(64)]
    run = await client.evals.runs.create(
        created.id,
        data_source={
            "type": "completions",
            "model": SERVED_AS,
            "input_messages": {
                "type": "template",
                "template": [{"role": "user", "content": "{{item.question}}"}],
            },
            "sampling_params": {"max_completion_tokens": 64},
            "source": {"type": "file_content", "content": many},
        },
    )
    cancelled = await client.evals.runs.cancel(run.id, eval_id=created.id)
    assert cancelled.status == "canceled"
    assert (await finished(client, created.id, run.id)).status == "canceled"
    deleted = await client.evals.delete(created.id)
    assert deleted.deleted and deleted.eval_id == created.id
    with pytest.raises(openai.NotFoundError):
        await client.evals.retrieve(created.id)
    with pytest.raises(openai.NotFoundError):
        await client.evals.runs.retrieve(run.id, eval_id=created.id)


SANDBOX_BREAKER = """
import os

def grade(sample, item):
    action = item["action"]
    if action == "loop":
        while True:
            pass
    if action == "alloc":
        block = bytearray(2 * 1024 ** 3)
    if action == "network":
        import socket
        socket.create_connection(("127.0.0.1", 80), timeout=1)
    if action == "write":
        open(item["path"], "w").write("escaped")
    if action == "system":
        os.system("true")
    return 1.0 if sample["output_text"] == "ok" else 0.0
"""


async def test_a_python_grader_that_misbehaves_fails_only_its_item(
    client: openai.AsyncOpenAI, tmp_path: Any
) -> None:
    outside = tmp_path / "escaped.txt"
    actions = ["ok", "loop", "alloc", "network", "write", "system", "ok"]
    created = await client.evals.create(
        name="sandbox",
        data_source_config={
            "type": "custom",
            "item_schema": {"type": "object", "properties": {"action": {}, "path": {}}},
            "include_sample_schema": True,
        },
        testing_criteria=[{"type": "python", "name": "py", "source": SANDBOX_BREAKER}],
    )
    rows = [
        {"item": {"action": a, "path": str(outside)}, "sample": {"output_text": "ok"}}
        for a in actions
    ]
    run = await client.evals.runs.create(
        created.id,
        data_source={"type": "jsonl", "source": {"type": "file_content", "content": rows}},
    )
    done = await finished(client, created.id, run.id)
    assert done.status == "completed", done.error
    assert (done.result_counts.passed, done.result_counts.errored) == (2, 5)
    items = [i async for i in client.evals.runs.output_items.list(done.id, eval_id=created.id)]
    errors = {i.datasource_item["action"]: i.results[0].model_dump().get("error") for i in items}
    assert re.search(STOPPED_BY_A_LIMIT, errors["loop"])
    assert "memory" in errors["alloc"]
    assert "socket" in errors["network"]
    assert "outside its working directory" in errors["write"]
    assert "run a command" in errors["system"]
    assert [i.status for i in items if i.datasource_item["action"] == "ok"] == ["pass", "pass"]
    assert not outside.exists()


async def test_evals_list_update_and_output_item_pages(client: openai.AsyncOpenAI) -> None:
    first = await create_eval(client, name="one", testing_criteria=CRITERIA[:1])
    second = await create_eval(client, name="two", testing_criteria=CRITERIA[:1])
    ids = [e.id async for e in client.evals.list(order="asc", limit=1)]  # pages of one
    assert ids.index(first.id) < ids.index(second.id)
    newest = await client.evals.list(order="desc", limit=1)
    assert newest.data[0].id == second.id and newest.has_more
    renamed = await client.evals.update(first.id, name="renamed", metadata={"k": "v"})
    assert (renamed.name, renamed.metadata) == ("renamed", {"k": "v"})

    rows = [{"item": i, "sample": {"output_text": i["answer"]}} for i in ITEMS]
    run = await client.evals.runs.create(
        first.id, data_source={"type": "jsonl", "source": {"type": "file_content", "content": rows}}
    )
    await finished(client, first.id, run.id)
    page = await client.evals.runs.output_items.list(run.id, eval_id=first.id, limit=3)
    assert [i.datasource_item_id for i in page.data] == [0, 1, 2] and page.has_more
    rest = await client.evals.runs.output_items.list(
        run.id, eval_id=first.id, limit=3, after=page.data[-1].id
    )
    assert [i.datasource_item_id for i in rest.data] == [3] and not rest.has_more
    backwards = await client.evals.runs.output_items.list(run.id, eval_id=first.id, order="desc")
    assert [i.datasource_item_id for i in backwards.data] == [3, 2, 1, 0]
    assert all(i.status == "pass" for i in backwards.data)
    completed = await client.evals.runs.list(first.id, status="completed")
    assert [r.id for r in completed.data] == [run.id]
    assert (await client.evals.runs.list(first.id, status="failed")).data == []
    await client.evals.runs.delete(run.id, eval_id=first.id)
    assert (await client.evals.runs.list(first.id)).data == []
