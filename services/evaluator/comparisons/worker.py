"""The comparison job handler: every model answers every question through the inference
service, and the answer matrix is stored for the gateway to show side by side.

Questions go in batches; within a batch every model answers at once (the inference engine
batches concurrent requests), and between batches the job reports progress and notices a
cancel. A redelivered job simply generates again: answers are cheap next to training.
"""

from __future__ import annotations

import asyncio

from services.evaluator.comparisons.spec import ComparisonSpec, from_pb
from services.evaluator.generation import AnsweringWorker, GenerationSettings, generate_answers
from tuneloop.common.v1 import common_pb2
from tuneloop.evaluator.v1 import evaluator_pb2
from tuneloop.events.v1 import events_pb2
from tuneloop.inference.v1 import inference_pb2
from tuneloop_core.bus.jobrun import JobRun
from tuneloop_core.comparison_answers import ComparisonAnswers, write_answers

KIND = common_pb2.JOB_KIND_COMPARISON
# Questions in flight per model at once; the engine batches them, and a batch boundary is
# where progress is reported and a cancel is noticed.
BATCH_QUESTIONS = 8


def conversation(spec: ComparisonSpec, question: str) -> list[inference_pb2.ChatMessage]:
    turns = [inference_pb2.ChatMessage(role="system", content=spec.system)] if spec.system else []
    return [*turns, inference_pb2.ChatMessage(role="user", content=question)]


class ComparisonWorker(AnsweringWorker):
    kind = KIND
    title = "comparison"

    async def work(self, run: JobRun, status: int, request: events_pb2.JobRequested) -> None:
        spec = from_pb(request.comparison)
        if status != common_pb2.JOB_STATUS_RUNNING:
            await run.running(
                f"Comparing {len(spec.models)} models on {len(spec.questions)} questions."
            )
        answers = await self._answer_all(run, spec, request.tenant_id)
        relpath = await asyncio.to_thread(
            write_answers,
            self.store,
            request.job_id,
            ComparisonAnswers(models=spec.models, questions=spec.questions, answers=answers),
        )
        await run.succeed(
            f"Every model answered all {len(spec.questions)} questions; vote for the best.",
            result=evaluator_pb2.ComparisonResult(
                answers_file=relpath, models=spec.models, questions=len(spec.questions)
            ),
        )

    async def _answer_all(
        self, run: JobRun, spec: ComparisonSpec, tenant_id: str
    ) -> list[list[str]]:
        """`answers[q][m]`: model m's answer to question q."""
        settings = GenerationSettings(
            max_tokens=spec.max_tokens, temperature=spec.temperature, top_p=spec.top_p
        )
        total = len(spec.questions) * len(spec.models)
        rows: list[list[str]] = []
        for start in range(0, len(spec.questions), BATCH_QUESTIONS):
            await run.check_cancelled()
            batch = spec.questions[start : start + BATCH_QUESTIONS]
            conversations = [conversation(spec, q) for q in batch]
            columns = await asyncio.gather(
                *(
                    generate_answers(
                        self.inference,
                        tenant_id,
                        model,
                        conversations,
                        settings,
                        concurrency=BATCH_QUESTIONS,
                    )
                    for model in spec.models
                )
            )
            rows += [list(row) for row in zip(*columns, strict=True)]
            await run.progress("answers", len(rows) * len(spec.models), total)
        return rows
