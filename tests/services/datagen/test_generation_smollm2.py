"""Grounded datagen with the real bundled SmolLM2-135M-Instruct as teacher and judge,
served by the gateway (transformers engine, constrained decoding): every answer the teacher
gives is the JSON asked for, its questions pass the rules and reach the judge, and the
pairs it keeps passed the unchanged gates. (As a judge this model gives one constant
score whatever the pair, so how many it keeps says nothing here.)"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from services.datagen.documents.chunk import ChunkingOptions, chunk_document
from services.datagen.documents.parse import parse_document
from services.datagen.generation import grounded, quality
from services.datagen.generation.pipeline import Pipeline
from services.datagen.generation.spec import DatagenSpec
from services.datagen.generation.teacher import TeacherClient
from support.smollm2 import pulled_smollm2
from support.stack import ApiStack, api_stack

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]
SMOL = "smol"
DOC = Path(__file__).resolve().parents[3] / "samples" / "gongwen" / "docs" / "01-document-types.md"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ApiStack]:
    root = tmp_path_factory.mktemp("datagen-smollm2")
    async with api_stack(root, models={SMOL: pulled_smollm2()}) as running:
        yield running


async def _quiet(stage: str, done: int, total: int) -> None:
    return None


async def test_a_served_tiny_teacher_never_fails_the_format(stack: ApiStack) -> None:
    chunks = chunk_document(parse_document(DOC), ChunkingOptions(size=200, overlap=0))
    chunk = next(c for c in chunks if c.heading_path[-1] == "令")  # four sentences
    spec = DatagenSpec.model_validate(
        {"file_ids": ["file-1"], "teacher": {"model": SMOL}, "eval_fraction": 0.0, "refine": False}
    )
    teacher = TeacherClient(spec.teacher, f"{stack.url}/v1", stack.key("tenant-a"))
    try:
        result = await Pipeline(spec, teacher, _quiet).run([chunk])
    finally:
        await teacher.close()
    counts = result.counts()
    assert teacher.constrained and set(teacher.calls) == {"ok"}, teacher.calls
    assert counts["format_failures"] == 0 and counts["teacher_failures"] == {}
    assert counts["answers"] == len(grounded.answer_spans(chunk.text, "zh-TW")) >= 3
    assert counts["generated"] == 3 * counts["answers"]
    dropped = counts["dropped"]
    judged = counts["generated"] - sum(n for k, n in dropped.items() if k != "low_score")
    assert judged >= counts["answers"]  # at least a phrasing per answer reached the judge
    assert judged == counts["kept"] + dropped.get("low_score", 0)  # each got a score
    for pair in result.train:
        assert pair.answer in chunk.text  # verbatim
        assert quality.rule_problem(pair.question, pair.answer, chunk.text, "zh-TW") is None
        assert pair.score is not None and pair.score >= spec.min_score
        grammar = grounded.question_grammar(pair.answer, chunk.heading_path, "zh-TW", 1)
        assert grammar is not None and re.fullmatch(grammar.patterns[0], pair.question)
