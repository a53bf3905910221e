"""OpenAI's grader endpoints (`client.fine_tuning.alpha.graders.run` and `.validate`)
through the unmodified `openai` SDK, on the stack and criteria of test_evals_api.py: each
grader type scores one sample, and a grader that misbehaves fails with its reason."""

from __future__ import annotations

import re

import openai
import pytest

from support.sandbox_limits import STOPPED_BY_A_LIMIT
from support.smollm2 import SERVED_AS
from tests.services.gateway.test_evals_api import CRITERIA, client, stack

__all__ = ["client", "stack"]  # the module's fixtures, shared with test_evals_api.py

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]


async def test_graders_run_and_validate(client: openai.AsyncOpenAI) -> None:
    similar = await client.fine_tuning.alpha.graders.run(
        grader={
            "type": "text_similarity",
            "name": "bleu",
            "input": "{{sample.output_text}}",
            "reference": "{{item.answer}}",
            "evaluation_metric": "bleu",
        },
        model_sample="主旨是公文的目的與期望。",
        item={"answer": "主旨是公文的目的與期望。"},
    )
    assert similar.reward == pytest.approx(1.0, abs=1e-6)
    cosine = {
        "type": "text_similarity",
        "name": "cosine",
        "input": "{{sample.output_text}}",
        "reference": "{{item.answer}}",
        "evaluation_metric": "cosine",
    }
    near = await client.fine_tuning.alpha.graders.run(
        grader=cosine,  # type: ignore[arg-type]
        model_sample="The cat sat on the mat.",
        item={"answer": "A cat was sitting on the mat."},
    )
    far = await client.fine_tuning.alpha.graders.run(
        grader=cosine,  # type: ignore[arg-type]
        model_sample="Quarterly revenue grew by eight percent.",
        item={"answer": "A cat was sitting on the mat."},
    )
    assert 0.6 < near.reward <= 1.0 and far.reward < near.reward - 0.3
    labelled = await client.fine_tuning.alpha.graders.run(
        grader={
            "type": "label_model",
            "name": "tone",
            "model": SERVED_AS,
            "input": [{"role": "user", "content": "Is this polite? {{sample.output_text}}"}],
            "labels": ["polite", "rude"],
            "passing_labels": ["polite"],
        },
        model_sample="Thank you very much for your help.",
    )
    label = labelled.metadata.model_dump()["details"]["label"]
    assert label in ("polite", "rude") and labelled.reward == float(label == "polite")
    multi = await client.fine_tuning.alpha.graders.run(
        grader={
            "type": "multi",
            "name": "combined",
            "graders": {
                "exact": {
                    "type": "string_check",
                    "name": "exact",
                    "input": "{{sample.output_text}}",
                    "reference": "{{item.answer}}",
                    "operation": "eq",
                },
                "length": {
                    "type": "python",
                    "name": "length",
                    "source": "def grade(sample, item):\n"
                    "    return len(sample['output_text']) / 10\n",
                },
            },
            "calculate_output": "0.5 * exact + 0.5 * min(length, 1)",
        },
        model_sample="Paris",
        item={"answer": "Paris"},
    )
    assert multi.reward == pytest.approx(0.75)
    assert multi.sub_rewards == {"exact": 1.0, "length": 0.5}
    looping = await client.fine_tuning.alpha.graders.run(
        grader={
            "type": "python",
            "name": "loops",
            "source": "def grade(sample, item):\n    while True:\n        pass\n",
        },
        model_sample="x",
    )
    assert looping.reward == 0
    assert looping.metadata.errors.python_grader_runtime_error
    assert re.search(
        STOPPED_BY_A_LIMIT, looping.metadata.errors.python_grader_runtime_error_details or ""
    )
    valid = await client.fine_tuning.alpha.graders.validate(grader=CRITERIA[0])  # type: ignore[arg-type]
    assert valid.grader is not None
