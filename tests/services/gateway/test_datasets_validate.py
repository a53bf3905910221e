"""`POST /v1/datasets/validate` through the gateway and the datagen service: the report a
person reads before training."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from support.stack import ApiStack, api_stack

GOOD = {"instruction": "函的用途？", "input": "", "output": "機關之間往復時使用。"}
PAIR = {
    "input": {"messages": [{"role": "user", "content": "函的用途？"}]},
    "preferred_output": [{"role": "assistant", "content": "機關之間往復時使用。"}],
    "non_preferred_output": [{"role": "assistant", "content": "不知道。"}],
}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ApiStack]:
    async with api_stack(tmp_path_factory.mktemp("validate"), datagen=True) as running:
        yield running


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def http(stack: ApiStack) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {stack.key('tenant-a')}"}
    async with httpx.AsyncClient(base_url=f"{stack.url}/v1", headers=headers) as client:
        yield client


async def upload(http: httpx.AsyncClient, name: str, content: str) -> str:
    reply = await http.post(
        "/files", data={"purpose": "fine-tune"}, files={"file": (name, content.encode())}
    )
    assert reply.status_code == 200, reply.text
    return str(reply.json()["id"])


@pytest.mark.asyncio(loop_scope="module")
async def test_every_bad_line_is_reported_with_counts(http: httpx.AsyncClient) -> None:
    lines = [
        json.dumps(GOOD, ensure_ascii=False),
        "{not json",
        json.dumps({"instruction": "沒有答案", "input": ""}, ensure_ascii=False),
        json.dumps(GOOD, ensure_ascii=False),
    ]
    file_id = await upload(http, "mixed.jsonl", "\n".join(lines) + "\n")
    reply = await http.post("/datasets/validate", json={"file_id": file_id})
    assert reply.status_code == 200, reply.text
    report = reply.json()
    assert report["object"] == "dataset.validation" and report["valid"] is False
    assert (report["format"], report["container"]) == ("alpaca", "jsonl")
    assert (report["n_records"], report["n_valid"], report["n_duplicates"]) == (4, 2, 1)
    assert [e["line"] for e in report["errors"]] == [2, 3]
    assert all(e["reason"] and e["code"] for e in report["errors"])
    assert report["chars"]["min"] == report["chars"]["max"] > 0


@pytest.mark.asyncio(loop_scope="module")
async def test_a_clean_file_is_valid(http: httpx.AsyncClient) -> None:
    file_id = await upload(http, "clean.json", json.dumps([GOOD], ensure_ascii=False))
    report = (await http.post("/datasets/validate", json={"file_id": file_id})).json()
    assert report["valid"] is True and report["container"] == "json_array"
    assert report["kind"] == "sft"
    assert report["errors"] == [] and report["n_valid"] == 1


@pytest.mark.asyncio(loop_scope="module")
async def test_a_preference_file_reports_its_kind_and_bad_pairs(http: httpx.AsyncClient) -> None:
    identical = {**PAIR, "non_preferred_output": PAIR["preferred_output"]}
    lines = [PAIR, GOOD, identical, PAIR]
    content = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
    file_id = await upload(http, "prefs.jsonl", content)
    reply = await http.post("/datasets/validate", json={"file_id": file_id})
    assert reply.status_code == 200, reply.text
    report = reply.json()
    assert (report["format"], report["kind"]) == ("openai_preference", "preference")
    assert report["valid"] is False
    assert (report["n_records"], report["n_valid"], report["n_duplicates"]) == (4, 2, 1)
    assert [(e["line"], e["code"]) for e in report["errors"]] == [
        (2, "mixed_kind"),
        (3, "identical_outputs"),
    ]
    assert report["error"] == (
        "line 2 is an SFT conversation, but line 1 is a preference pair: "
        "a file holds one kind, SFT conversations or preference pairs"
    )


@pytest.mark.asyncio(loop_scope="module")
async def test_bad_requests_name_their_parameter(stack: ApiStack, http: httpx.AsyncClient) -> None:
    missing = await http.post("/datasets/validate", json={"file_id": "file-nope"})
    assert missing.status_code == 400 and missing.json()["error"]["param"] == "file_id"
    file_id = await upload(http, "one.jsonl", json.dumps(GOOD, ensure_ascii=False))
    unknown = await http.post("/datasets/validate", json={"file_id": file_id, "format": "csv"})
    assert unknown.status_code == 400 and unknown.json()["error"]["param"] == "format"
    other = {"Authorization": f"Bearer {stack.key('tenant-b')}"}
    foreign = await http.post("/datasets/validate", json={"file_id": file_id}, headers=other)
    assert foreign.status_code == 400 and foreign.json()["error"]["code"] == "file_not_found"


def test_report_paths_stay_inside_the_data_dir(tmp_path: Path) -> None:
    from services.datagen.validation import validate_file
    from tuneloop.datagen.v1 import datagen_pb2
    from tuneloop_core.errors import NotFoundError

    (tmp_path / "data").mkdir()
    (tmp_path / "secret.jsonl").write_text(json.dumps(GOOD))
    request = datagen_pb2.ValidateDatasetRequest(path="../secret.jsonl")
    with pytest.raises(NotFoundError):
        validate_file(tmp_path / "data", request)


def test_a_forced_preference_format_is_reported_with_its_kind(tmp_path: Path) -> None:
    from services.datagen.validation import validate_file
    from tuneloop.datagen.v1 import datagen_pb2

    (tmp_path / "p.jsonl").write_text(json.dumps(PAIR, ensure_ascii=False) + "\n", "utf-8")
    detected = validate_file(tmp_path, datagen_pb2.ValidateDatasetRequest(path="p.jsonl"))
    assert (detected.format, detected.kind, detected.n_valid) == (
        "openai_preference",
        "preference",
        1,
    )
    request = datagen_pb2.ValidateDatasetRequest(path="p.jsonl", format="alpaca_pairwise")
    forced = validate_file(tmp_path, request)
    assert (forced.format, forced.kind, forced.n_valid) == ("alpaca_pairwise", "preference", 0)
    assert [e.reason for e in forced.errors] == ["missing 'instruction'"]
