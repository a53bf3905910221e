"""Datagen jobs through the API: documents uploaded by the test, a teacher that is a small
OpenAI-protocol server (malformed JSON, server errors, duplicates on purpose), and the real
local model as teacher; counts, scores, drop reasons and the split are exact."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio

from support.fake_teacher import as_json, fake_teacher
from support.stack import TINY, ApiStack, api_stack
from support.tiny_model import build_tiny_model
from tuneloop_core import basemodels

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]
LONG = "tiny-long"

DOC = """# 公文

## 甲
函是機關之間往復的公文。函用於機關之間的公務聯繫與答復。

## 乙
公告是對公眾宣布事項的公文。公告不分段名以外的格式。

## 丙
MALFORMED 簽是幕僚人員向長官陳述意見的文書。

## 丁
BROKEN 這一段的回答永遠不是 JSON 格式的內容。

## 戊
ERROR500 這一段的請求永遠得到伺服器錯誤的回應。
"""
GOOD_A = {"question": "函是什麼樣的公文？", "answer": "函是機關之間往復的公文。"}
GENERATED: dict[str, list[dict[str, str]]] = {
    "## 甲": [
        GOOD_A,
        GOOD_A,  # a duplicate on purpose
        {"question": "函的用途有哪些？", "answer": ""},
        {"question": "What is this section about?", "answer": "It is about letters."},
    ],
    "## 乙": [
        {"question": "公告的用途是什麼？", "answer": "公告是對公眾宣布事項的公文。"},
        {"question": "公告由誰簽署？", "answer": "由總統府秘書長親自簽署並蓋上大印。"},
        {"question": "公告要注意什麼格式？LOW", "answer": "公告不分段名以外的格式。"},
        {"question": "公告有什麼限制？LOWX", "answer": "公告不分段名以外的格式。"},
    ],
    "## 丙": [{"question": "簽是什麼樣的文書？", "answer": "簽是幕僚人員向長官陳述意見的文書。"}],
}


def teacher_answer(prompt: str, temperature: float) -> str | int:
    if prompt.startswith("請評分"):
        question = prompt.split("問題：")[1]
        return as_json({"score": 1 if "LOW" in question.split("\n")[0] else 4, "reason": "ok"})
    if prompt.startswith("下列問答品質不佳"):
        if "LOWX" in prompt:
            return as_json({"question": "", "answer": ""})
        return as_json({"question": "公告的格式有什麼限制？", "answer": "公告不分段名以外的格式。"})
    if "ERROR500" in prompt:
        return 500
    if "BROKEN" in prompt or ("MALFORMED" in prompt and temperature == 0.0):
        return "好的，以下是問答：問題一……"
    heading = next(h for h in GENERATED if h in prompt)
    return as_json({"pairs": GENERATED[heading]})


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ApiStack]:
    root = tmp_path_factory.mktemp("datagen")
    # The teacher's prompts are long for a tiny model (zh-TW is ~3 byte tokens a character).
    basemodels.register(
        LONG, str(build_tiny_model(root / "long", context_length=4096)), root / "data"
    )
    async with api_stack(root, datagen=True) as running:
        yield running


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def http(stack: ApiStack) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {stack.key('tenant-a')}"}
    async with httpx.AsyncClient(base_url=f"{stack.url}/v1", headers=headers, timeout=60) as c:
        yield c


async def upload(
    http: httpx.AsyncClient, name: str, content: bytes, purpose: str = "datagen"
) -> str:
    reply = await http.post("/files", data={"purpose": purpose}, files={"file": (name, content)})
    assert reply.status_code == 200, reply.text
    return str(reply.json()["id"])


async def finished(http: httpx.AsyncClient, job_id: str, timeout_s: float = 120) -> dict[str, Any]:
    for _ in range(int(timeout_s / 0.25)):
        job: dict[str, Any] = (await http.get(f"/datagen/jobs/{job_id}")).json()
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return job
        await asyncio.sleep(0.25)
    raise AssertionError(f"job {job_id} did not finish")


async def test_a_job_counts_every_kept_and_dropped_pair(http: httpx.AsyncClient) -> None:
    doc = await upload(http, "公文.md", DOC.encode())
    refused = await http.post("/files", data={"purpose": "datagen"}, files={"file": ("e.md", b"")})
    assert refused.json()["error"]["code"] == "empty_file"  # a 0-byte file never gets in
    empty = await upload(http, "slides.pptx", b"PK\x03\x04 not a document we read")
    slides = await upload(http, "page.html", b"\x00\x01binary")
    with fake_teacher(teacher_answer) as (url, calls):
        created = await http.post(
            "/datagen/jobs",
            json={
                "file_ids": [doc, empty, slides],
                "teacher": {"model": "teacher-1", "base_url": url, "api_key": "sk-secret"},
                "mode": "free",
                "questions_per_chunk": 4,
                "chunking": {"size": 60, "overlap": 0},
                "eval_fraction": 0.25,
                "concurrency": 2,
            },
        )
        assert created.status_code == 200, created.text
        job = await finished(http, created.json()["id"])
    assert job["status"] == "succeeded", job
    assert "api_key" not in job["spec"]["teacher"]  # never shown back
    result = job["result"]
    assert result["counts"] == {
        "generated": 9,
        "kept": 4,
        "train": 3,
        "eval": 1,
        "refined": 1,
        "dropped": {
            "empty": 1,
            "language_mismatch": 1,
            "low_score": 1,
            "near_duplicate": 1,
            "unsupported_by_chunk": 1,
        },
        "teacher_failures": {"malformed_json": 1, "teacher_error": 1},
        "format_failures": 1,  # the answer that stayed malformed after its re-asks
        "answers": 0,  # grounded mode's answer sentences (this job is free mode)
        "scorer": "judge",  # an external teacher rates the pairs
        "leakage_moved_to_train": 0,
    }
    assert result["score_histogram"]["4"] == 4 and result["n_chunks"] == 5
    failed = [d for d in result["documents"] if d["error"] is not None]
    assert sorted(d["file_id"] for d in failed) == sorted([empty, slides])
    assert any("MALFORMED" in c for c in calls)  # asked twice: the retry succeeded

    files = {}
    for file_id in result["result_files"]:
        meta = (await http.get(f"/files/{file_id}")).json()
        files[meta["filename"]] = (file_id, meta["purpose"])
    job_id = job["id"]
    train_id, purpose = files[f"{job_id}-train.json"]
    assert purpose == "fine-tune"
    train = json.loads((await http.get(f"/files/{train_id}/content")).content)
    assert len(train) == 3 and all(set(r) >= {"instruction", "output"} for r in train)
    info_id, _ = files["dataset_info.json"]
    info = json.loads((await http.get(f"/files/{info_id}/content")).content)
    assert info[f"{job_id}_train"]["formatting"] == "alpaca"
    report = (await http.post("/datasets/validate", json={"file_id": train_id})).json()
    assert report["valid"] is True and report["n_valid"] == 3  # the fine-tuning API takes it
    pairs_id, _ = files[f"{job_id}-pairs.jsonl"]
    pairs = [
        json.loads(line)
        for line in (await http.get(f"/files/{pairs_id}/content")).text.splitlines()
    ]
    assert {p["split"] for p in pairs} == {"train", "eval"}
    assert all(p["heading_path"][0] == "公文" and p["confirmed"] is False for p in pairs)


async def test_the_local_model_can_teach(http: httpx.AsyncClient) -> None:
    """The gateway itself as the teacher, on the tiny random model: its answers are not
    JSON, so every call is counted as failed, and the job still completes."""
    doc = await upload(http, "short.md", "# 甲\n\n函是機關之間往復的公文。".encode())
    created = await http.post(
        "/datagen/jobs",
        json={
            "file_ids": [doc],
            "teacher": {"model": LONG, "max_tokens": 48},
            "mode": "free",
            "questions_per_chunk": 1,
        },
    )
    assert created.status_code == 200, created.text
    job = await finished(http, created.json()["id"], timeout_s=300)
    assert job["status"] == "succeeded", job
    counts = job["result"]["counts"]
    failures = counts["teacher_failures"]
    assert "teacher_error" not in failures, failures  # the gateway answered every call
    assert counts["generated"] + failures.get("malformed_json", 0) >= 1
    assert counts["scorer"] == "likelihood"  # a served teacher scores by likelihood
    assert not any(k.startswith("judge_") for k in failures), failures  # every pair scored


async def test_bad_requests_are_refused_before_queueing(http: httpx.AsyncClient) -> None:
    doc = await upload(http, "ok.md", "# 甲\n\n內容。".encode())
    cases = [
        ({"file_ids": [], "teacher": {"model": TINY}}, "file_ids"),
        ({"file_ids": ["file-nope"], "teacher": {"model": TINY}}, "file_ids"),
        ({"file_ids": [doc], "teacher": {"model": "no-such-model"}}, "teacher.model"),
        ({"file_ids": [doc, doc], "teacher": {"model": TINY}}, "file_ids"),
    ]
    for body, param in cases:
        reply = await http.post("/datagen/jobs", json=body)
        assert reply.status_code == 400, (body, reply.text)
        assert reply.json()["error"]["param"] == param, reply.json()
    default = await http.post("/datagen/jobs", json={"file_ids": [doc], "max_chunks": 1})
    assert default.status_code == 200, default.text  # the teacher: the first base model
    assert default.json()["spec"]["teacher"]["model"] in (TINY, LONG)
    await http.post(f"/datagen/jobs/{default.json()['id']}/cancel")
    tuned = await upload(http, "data.jsonl", b'{"prompt": "a", "completion": "b"}\n', "fine-tune")
    wrong = await http.post("/datagen/jobs", json={"file_ids": [tuned], "teacher": {"model": TINY}})
    assert wrong.json()["error"]["code"] == "invalid_file_purpose"


async def test_a_hanging_teacher_times_out_and_the_job_completes(http: httpx.AsyncClient) -> None:
    doc = await upload(http, "slow.md", "# 甲\n\nSLOW 函是機關之間往復的公文。".encode())

    def hangs(prompt: str, temperature: float) -> str | int | float:
        return 30.0 if "SLOW" in prompt else teacher_answer(prompt, temperature)

    with fake_teacher(hangs) as (url, calls):
        created = await http.post(
            "/datagen/jobs",
            json={
                "file_ids": [doc],
                "teacher": {"model": "t", "base_url": url, "timeout_s": 0.5},
                "mode": "free",
                "questions_per_chunk": 1,
            },
        )
        job = await finished(http, created.json()["id"], timeout_s=60)
    assert job["status"] == "succeeded", job
    counts = job["result"]["counts"]
    assert counts["teacher_failures"] == {"teacher_timeout": 1} and counts["generated"] == 0
    assert len(calls) == 3  # the first try and the SDK's two retries, then given up


async def test_review_edit_confirm_drop_then_build_a_dataset(
    http: httpx.AsyncClient, stack: ApiStack
) -> None:
    doc = await upload(http, "公文.md", DOC.encode())
    with fake_teacher(teacher_answer) as (url, _):
        created = await http.post(
            "/datagen/jobs",
            json={
                "file_ids": [doc],
                "teacher": {"model": "teacher-1", "base_url": url},
                "mode": "free",
                "questions_per_chunk": 4,
                "chunking": {"size": 60, "overlap": 0},
                "eval_fraction": 0.25,
            },
        )
        job = await finished(http, created.json()["id"])
    job_id = job["id"]
    listed = (await http.get(f"/datagen/jobs/{job_id}/pairs")).json()
    pairs = listed["data"]
    assert listed["counts"] == {"total": 4, "confirmed": 0, "dropped": 0, "edited": 0}
    assert sorted(p["split"] for p in pairs) == ["eval", "train", "train", "train"]
    assert all(p["score"] is not None and p["document"] == "公文.md" for p in pairs)
    train = [p for p in pairs if p["split"] == "train"]
    first, second, third = train

    edited = await http.patch(
        f"/datagen/jobs/{job_id}/pairs/{first['id']}",
        json={"answer": "函是機關之間往復聯繫的公文。", "confirmed": True},
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["edited"] and edited.json()["confirmed"]
    assert edited.json()["question"] == first["question"]  # left out: unchanged
    dropped = await http.patch(
        f"/datagen/jobs/{job_id}/pairs/{second['id']}", json={"dropped": True}
    )
    assert dropped.json()["dropped"] is True
    for body, status in [
        ({"question": "  "}, 400),
        ({}, 400),
        ({"confirmed": True, "score": 5}, 400),
    ]:
        reply = await http.patch(f"/datagen/jobs/{job_id}/pairs/{third['id']}", json=body)
        assert reply.status_code == status, (body, reply.text)
    missing = await http.patch(f"/datagen/jobs/{job_id}/pairs/pair-nope", json={"dropped": True})
    assert missing.status_code == 404 and missing.json()["error"]["param"] == "pair_id"

    confirmed = (await http.get(f"/datagen/jobs/{job_id}/pairs?confirmed=true")).json()
    assert [p["id"] for p in confirmed["data"]] == [first["id"]]
    assert confirmed["counts"] == {"total": 4, "confirmed": 1, "dropped": 1, "edited": 1}

    built = await http.post(f"/datagen/jobs/{job_id}/dataset", json={"confirmed_only": True})
    assert built.status_code == 200, built.text
    assert built.json()["purpose"] == "fine-tune"
    content = json.loads((await http.get(f"/files/{built.json()['id']}/content")).content)
    assert content == [
        {"instruction": first["question"], "input": "", "output": "函是機關之間往復聯繫的公文。"}
    ]
    everything = await http.post(
        f"/datagen/jobs/{job_id}/dataset", json={"split": "all", "format": "openai"}
    )
    file_id = everything.json()["id"]
    lines = (await http.get(f"/files/{file_id}/content")).text.splitlines()
    assert len(lines) == 3  # four pairs, one dropped
    report = (await http.post("/datasets/validate", json={"file_id": file_id})).json()
    assert report["valid"] is True and report["format"] == "openai"
    none_left = await http.post(
        f"/datagen/jobs/{job_id}/dataset", json={"split": "eval", "confirmed_only": True}
    )
    assert none_left.json()["error"]["code"] == "empty_dataset"

    # Another tenant sees no such job; an unfinished job cannot be reviewed yet.
    other = {"Authorization": f"Bearer {stack.key('tenant-b')}"}
    hidden = await http.get(f"/datagen/jobs/{job_id}/pairs", headers=other)
    assert hidden.status_code == 404
    with fake_teacher(lambda prompt, temperature: 30.0) as (url, _):
        slow = await http.post(
            "/datagen/jobs",
            json={"file_ids": [doc], "teacher": {"model": "t", "base_url": url, "timeout_s": 1}},
        )
        early = await http.get(f"/datagen/jobs/{slow.json()['id']}/pairs")  # takes ≥ 3 s
        assert early.status_code == 409 and early.json()["error"]["code"] == "job_not_finished"
        await finished(http, slow.json()["id"])
