"""A datagen run against a real OpenAI-protocol teacher server (the fake teacher): every
call carries the strict JSON schema of its answer, grounded questions keep the chunk's
sentence as the answer, an endpoint that refuses `response_format` is parsed instead (and
asked without it from then on), and answers off the schema count as format failures."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from services.datagen.documents.chunk import Chunk
from services.datagen.generation.pipeline import Pipeline, PipelineResult
from services.datagen.generation.spec import DatagenSpec
from services.datagen.generation.teacher import TeacherClient
from support.fake_teacher import as_json, fake_teacher

CHUNKS = [
    Chunk(
        "令用於公布法律、發布命令，以及任免、獎懲官員。令要蓋用機關印信，並由首長署名。",
        "公文.md",
        None,
        ["公文", "令"],
        0,
    ),
    Chunk("函是機關之間公文往復時使用的公文。", "公文.md", None, ["公文", "函"], 1),
]


async def _quiet(stage: str, done: int, total: int) -> None:
    return None


def spec(**overrides: Any) -> DatagenSpec:
    teacher = {"model": "teacher-1", "json_retries": 1} | overrides.pop("teacher", {})
    base = {"file_ids": ["file-1"], "teacher": teacher, "eval_fraction": 0.0, "concurrency": 1}
    return DatagenSpec.model_validate(base | overrides)


def schema_of(body: dict[str, Any]) -> dict[str, Any]:
    response_format = body["response_format"]
    assert response_format["type"] == "json_schema"
    assert response_format["json_schema"]["strict"] is True
    return dict(response_format["json_schema"]["schema"])


def grounded_teacher(prompt: str, temperature: float) -> str | int:
    """Questions built the way the grammar allows; a judge that likes all but 官員 pairs."""
    if prompt.startswith("請評分"):
        low = "官員" in prompt.split("答案：")[1]
        return as_json({"score": 1 if low else 4, "reason": "ok"})
    if prompt.startswith("下列問題與答案不夠相符"):
        return as_json({"question": "令有哪些？"})
    answer = prompt.split("答案：")[-1].strip()
    term = answer[0]
    keys = re.findall(r'"(q\d)": "…"', prompt)
    endings = ["是什麼？", "有哪些規定？", "的用途為何？"]  # one of each phrasing's
    return as_json({key: term + ending for key, ending in zip(keys, endings, strict=False)})


async def run(
    url: str, datagen: DatagenSpec, chunks: list[Chunk] = CHUNKS
) -> tuple[PipelineResult, TeacherClient]:
    teacher = TeacherClient(datagen.teacher, url, "sk-test")
    try:
        return await Pipeline(datagen, teacher, _quiet).run(chunks), teacher
    finally:
        await teacher.close()


async def test_grounded_answers_are_the_chunks_sentences_under_a_question_schema() -> None:
    requests: list[dict[str, Any]] = []
    with fake_teacher(grounded_teacher, requests=requests) as (url, _):
        result, teacher = await run(url, spec(teacher={"model": "t", "base_url": url}))
    # asks, judgements (8 left after the near-duplicate filter), refines, re-judgements
    assert teacher.constrained and teacher.calls == {"ok": 3 + 8 + 2 + 2}
    counts = result.counts()
    assert counts["answers"] == 3 and counts["generated"] == 9
    assert counts["format_failures"] == 0 and counts["teacher_failures"] == {}
    kept = [*result.train, *result.evaluation]
    # The filter's LSH index takes one 官員 phrasing (Jaccard ~0.67 to another) for a
    # near-duplicate; the other two are judged low, refined once (a new question, same
    # answer), judged low again and dropped. The rest keep the chunk's sentence as answer.
    assert counts["dropped"] == {"low_score": 2, "near_duplicate": 1}
    assert {p.answer for p in kept} == {
        "令要蓋用機關印信，並由首長署名。",
        "函是機關之間公文往復時使用的公文。",
    }
    assert sorted(p.question for p in kept if p.answer.startswith("函")) == [
        "函是什麼？",
        "函有哪些規定？",
        "函的用途為何？",
    ]
    question_schemas = [schema_of(b) for b in requests if "q1" in json.dumps(b["response_format"])]
    assert len(question_schemas) == 3
    first = question_schemas[0]
    assert first["required"] == ["q1", "q2", "q3"] and first["additionalProperties"] is False
    patterns = [first["properties"][k]["pattern"] for k in ("q1", "q2", "q3")]
    assert re.fullmatch(patterns[0], "請問令是什麼？")
    assert not re.fullmatch(patterns[1], "令是什麼？")  # another phrasing's ending
    judge = schema_of(next(b for b in requests if "請評分" in b["messages"][-1]["content"]))
    assert judge["properties"]["score"] == {"type": "integer", "enum": [0, 1, 2, 3, 4, 5]}
    assert judge["properties"]["reason"]["maxLength"] == 120


def free_teacher(prompt: str, temperature: float) -> str | int:
    if prompt.startswith("請評分"):
        return as_json({"score": 4, "reason": "ok"})
    if "函是" in prompt:
        # JSON, but an answer longer than the schema allows: a format failure
        return as_json({"pairs": [{"question": "函是什麼？", "answer": "函" * 201}]})
    if "令要" in prompt and temperature == 0.0:
        return "好的，以下是問答：問題一……"  # not JSON, then JSON on the re-ask
    return as_json({"pairs": [{"question": "令要蓋用什麼？", "answer": "令要蓋用機關印信。"}]})


@pytest.mark.parametrize("refuse", [False, True])
async def test_free_generation_counts_format_failures_and_falls_back_once(refuse: bool) -> None:
    requests: list[dict[str, Any]] = []
    with fake_teacher(free_teacher, refuse_response_format=refuse, requests=requests) as (
        url,
        calls,
    ):
        datagen = spec(mode="free", questions_per_chunk=2, teacher={"model": "t", "base_url": url})
        result, teacher = await run(url, datagen)
    counts = result.counts()
    assert counts["teacher_failures"] == {"schema_mismatch": 1}
    assert counts["format_failures"] == 1 and counts["kept"] == 1
    assert teacher.constrained is not refuse
    carrying = [b for b in requests if "response_format" in b]
    if refuse:  # refused once, then every call without it (2 + 2 re-asks + a judge)
        assert len(carrying) == 1 and len(requests) == 1 + len(calls) == 6
    else:
        assert len(carrying) == len(requests) == len(calls) == 5
        pairs = schema_of(carrying[0])["properties"]["pairs"]
        assert pairs["maxItems"] == 2 and pairs["items"]["properties"]["answer"]["maxLength"] == 200


async def test_the_served_teacher_never_falls_back() -> None:
    """A 400 from the gateway itself is an error, not a refusal to obey: the gateway
    decodes under every schema."""
    with fake_teacher(free_teacher, refuse_response_format=True) as (url, calls):
        result, teacher = await run(url, spec(mode="free"))
    assert teacher.constrained and calls == []
    assert result.counts()["teacher_failures"] == {"teacher_error": 2}
    assert result.format_failures == 0
