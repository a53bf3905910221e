"""`/v1/comparisons` refusing bad input with a clear 400 naming the parameter, and hiding
another tenant's comparison; no job is queued for any of it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from services.gateway.registry.transitions import JobStatus
from support.gateway import Gateway, assert_envelope

VALID: dict[str, Any] = {"models": ["base", "tuned"], "questions": ["什麼是函？"]}


async def upload(gateway: Gateway, content: bytes, key: str | None = None) -> str:
    response = await gateway.http.post(
        "/v1/files",
        files={"file": ("questions.json", content)},
        data={"purpose": "evals"},
        headers=gateway.auth(key),
    )
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


async def create(gateway: Gateway, body: dict[str, Any]) -> Any:
    return await gateway.http.post("/v1/comparisons", json=body, headers=gateway.auth())


@pytest.mark.parametrize(
    ("change", "param", "code"),
    [
        ({"models": "base"}, "models", "invalid_request"),
        ({"models": ["base"]}, "models", "invalid_request"),
        ({"models": ["base", "base"]}, "models", "duplicate_model"),
        ({"models": ["base", "nope"]}, "models", "model_not_found"),
        ({"questions": "什麼是函？"}, "questions", "invalid_request"),
        ({"questions": ["ok", 3]}, "questions.1", "invalid_request"),
        ({"questions": []}, "questions", "invalid_questions"),
        ({"questions": ["ok", "  "]}, "questions", "invalid_questions"),
        ({"questions": ["x" * 1001]}, "questions", "invalid_questions"),
        ({"questions": None}, "questions", "invalid_request"),
        ({"questions_file": "file-nope"}, "questions", "invalid_request"),
        ({"max_tokens": 0}, "max_tokens", "invalid_request"),
        ({"temperature": 3}, "temperature", "invalid_request"),
        ({"top_p": 0}, "top_p", "invalid_request"),
    ],
)
async def test_bad_requests_name_the_parameter(
    gateway: Gateway, change: dict[str, Any], param: str, code: str
) -> None:
    error = assert_envelope(await create(gateway, {**VALID, **change}), 400, code)
    assert error["param"] == param


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (json.dumps({"questions": ["a"]}).encode(), "not an object"),
        (json.dumps(["a", {"q": "b"}]).encode(), "questions_file[1] must be a string"),
        (json.dumps([]).encode(), "no questions"),
        (b'["a",', "not valid JSON (line 1"),
        ('["公文"]'.encode("utf-16"), "not UTF-8"),
    ],
)
async def test_a_questions_file_must_hold_a_json_array_of_strings(
    gateway: Gateway, content: bytes, words: str
) -> None:
    file_id = await upload(gateway, content)
    body = {"models": VALID["models"], "questions_file": file_id}
    error = assert_envelope(await create(gateway, body), 400, "invalid_questions")
    assert error["param"] == "questions_file" and words in str(error["message"])


async def test_another_tenants_questions_file_is_not_found(gateway: Gateway) -> None:
    other_key, _ = gateway.state.registry.sync.create_api_key("globex")
    file_id = await upload(gateway, json.dumps(["a"]).encode(), key=other_key)
    body = {"models": VALID["models"], "questions_file": file_id}
    error = assert_envelope(await create(gateway, body), 400, "file_not_found")
    assert error["param"] == "questions_file"


async def test_unfinished_and_foreign_comparisons(gateway: Gateway) -> None:
    registry = gateway.state.registry.sync
    tenant = registry.authenticate(gateway.key)
    spec = {**VALID, "max_tokens": 8, "temperature": 0, "top_p": 1, "system": ""}
    registry.create_job(tenant.id, "comparison", spec, job_id="cmpjob-queued")
    vote = {"question_index": 0, "model": "base"}

    shown = await gateway.http.get("/v1/comparisons/cmpjob-queued", headers=gateway.auth())
    assert shown.status_code == 200
    assert shown.json()["status"] == JobStatus.QUEUED and shown.json()["rows"] is None
    assert shown.json()["votes_by_model"] == {"base": 0, "tuned": 0}
    for response in (
        await gateway.http.post(
            "/v1/comparisons/cmpjob-queued/votes", json=vote, headers=gateway.auth()
        ),
        await gateway.http.get("/v1/comparisons/cmpjob-queued/export.csv", headers=gateway.auth()),
    ):
        assert_envelope(response, 409, "comparison_not_ready")

    other = gateway.auth(registry.create_api_key("globex")[0])
    for response in (
        await gateway.http.get("/v1/comparisons/cmpjob-queued", headers=other),
        await gateway.http.post("/v1/comparisons/cmpjob-queued/votes", json=vote, headers=other),
        await gateway.http.get("/v1/comparisons/cmpjob-queued/votes", headers=other),
        await gateway.http.get("/v1/comparisons/cmpjob-queued/export.csv", headers=other),
        await gateway.http.post("/v1/comparisons/cmpjob-queued/cancel", headers=other),
    ):
        error = assert_envelope(response, 404, "not_found")
        assert error["param"] == "comparison_id"
    listed = await gateway.http.get("/v1/comparisons", headers=other)
    assert listed.json()["data"] == []
