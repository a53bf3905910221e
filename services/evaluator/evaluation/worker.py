"""The evaluation job handler: read the examples, get every model's answers through the
inference service (or take them from a predictions file), score them, and store the
results JSON and the HTML report in the artifact store for the gateway to serve.

A redelivered job simply evaluates again: generation is cheap next to training.
"""

from __future__ import annotations

import asyncio
import io
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from services.evaluator.evaluation.examples import (
    Example,
    load_dataset_examples,
    load_predictions,
)
from services.evaluator.evaluation.pipeline import answers_of, check_metrics, evaluate
from services.evaluator.evaluation.report import render_report
from services.evaluator.evaluation.spec import EvaluationSpec, ModelEntry, from_pb, with_scoring
from services.evaluator.evaluation.training import read_curves
from services.evaluator.evaluation.validators import check_names
from services.evaluator.generation import AnsweringWorker
from tuneloop.common.v1 import common_pb2
from tuneloop.evaluator.v1 import evaluator_pb2
from tuneloop.events.v1 import events_pb2
from tuneloop_core import layout, uploads
from tuneloop_core.bus.jobrun import JobRun
from tuneloop_core.errors import InvalidRequestError

KIND = common_pb2.JOB_KIND_EVALUATION
# Of each matrix row, what the job result carries (the rest is in the results file).
SUMMARY_KEYS = ("model", "label", "epoch", "is_base", "metrics", "judge_mean")


class EvaluationWorker(AnsweringWorker):
    kind = KIND
    title = "evaluation"

    def _examples(
        self, spec: EvaluationSpec, path: Path
    ) -> tuple[EvaluationSpec, list[Example], list[str]]:
        """The examples and notes, and the spec with its scoring mode decided by the file."""
        if not path.is_file():
            raise InvalidRequestError("the evaluation's file is gone", param="dataset_file")
        llamafactory_file = False
        if spec.predictions:
            (examples, llamafactory_file), notes = load_predictions(path), list[str]()
        else:
            examples, notes = load_dataset_examples(path)
        if spec.max_examples and len(examples) > spec.max_examples:
            notes.append(f"Evaluated the first {spec.max_examples} of {len(examples)} examples.")
            examples = examples[: spec.max_examples]
        return with_scoring(spec, llamafactory_file), examples, notes

    async def work(self, run: JobRun, status: int, request: events_pb2.JobRequested) -> None:
        spec = from_pb(request.evaluation)
        check_metrics(spec.metrics)  # fail before any generation on a typo
        if spec.validators is not None:
            check_names(spec.validators)
        file = await uploads.resolve(self.gateway, self.store, request.tenant_id, spec.file_id)
        spec, examples, notes = await asyncio.to_thread(self._examples, spec, file.path)
        answers: dict[str, list[str]] = {}
        if spec.predictions:
            if not spec.models:
                spec = replace(spec, models=[ModelEntry("predictions", "predictions file")])
            answers[spec.models[0].name] = [e.prediction or "" for e in examples]
        if status != common_pb2.JOB_STATUS_RUNNING:
            await run.running(
                f"Evaluating {len(spec.models)} model(s) on {len(examples)} examples."
            )

        async def progress(stage: str, done: int, total: int, message: str) -> None:
            await run.check_cancelled()
            await run.progress(stage, done, total, message)

        if not spec.predictions:
            answers = await answers_of(
                self.inference, request.tenant_id, spec, examples, notes, progress
            )
        results = await evaluate(
            self.inference, request.tenant_id, spec, examples, answers, notes, progress
        )
        relpaths = await asyncio.to_thread(self._store, request.job_id, spec, results)
        await run.succeed(
            results["verdict"],
            result=evaluator_pb2.EvaluationResult(
                matrix=[
                    evaluator_pb2.MatrixRow(**{k: row[k] for k in SUMMARY_KEYS})
                    for row in results["matrix"]
                ],
                best_model=results["best_model"],
                verdict=results["verdict"],
                suggestions=results["suggestions"],
                notes=results["notes"],
                scoring=results["scoring"],
                **relpaths,
            ),
        )

    def _store(self, job_id: str, spec: EvaluationSpec, results: dict[str, Any]) -> dict[str, str]:
        curves = (
            read_curves(self.store.path(layout.step_metrics(spec.fine_tuning_job)))
            if spec.fine_tuning_job
            else None
        )
        results = {
            "object": "evaluation.results",
            "id": job_id,
            "fine_tuning_job": spec.fine_tuning_job or None,
            "comparison": spec.comparison or None,
            "votes": spec.votes or None,
            "dataset": {
                "examples": len(results["examples"]),
                "predictions_file": spec.predictions,
                "has_references": bool(results["metrics"]),
            },
            "generation": {
                "max_tokens": spec.generation.max_tokens,
                "temperature": spec.generation.temperature,
                "top_p": spec.generation.top_p,
            },
            "training": curves.to_json() if curves else None,
            **results,
        }
        body = json.dumps(results, ensure_ascii=False, indent=1).encode()
        self.store.write(layout.evaluation_results(job_id), io.BytesIO(body))
        html = render_report(results, spec.models)
        self.store.write(layout.evaluation_report(job_id), io.BytesIO(html.encode()))
        return {
            "results_file": layout.evaluation_results(job_id),
            "report_file": layout.evaluation_report(job_id),
        }
