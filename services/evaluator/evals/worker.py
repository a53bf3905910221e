"""The eval run handler (OpenAI's Evals API): a completions run has a served model answer
each item's templated conversation, a jsonl run takes the samples it was given; then every
testing criterion grades every sample, and the output items and an HTML report are stored.

Items go in batches: within a batch the model answers all at once (the engine batches
them) and the graders grade all at once; between batches the run reports progress
("sampling" then "grading", n of N) and notices a cancel. A redelivered run (a worker
restart) simply samples and grades again.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Mapping
from typing import Any

from google.protobuf import json_format

from services.evaluator.evals.report import write_report
from services.evaluator.generation import AnsweringWorker, generate_completion
from services.evaluator.graders.grade import Grade, Grader
from services.evaluator.graders.model_graders import messages, sampling_pb
from services.evaluator.graders.templates import TemplateError, lookup
from tuneloop.common.v1 import common_pb2
from tuneloop.evaluator.v1 import evals_pb2
from tuneloop.events.v1 import events_pb2
from tuneloop.inference.v1 import inference_pb2
from tuneloop_core import uploads
from tuneloop_core.bus.jobrun import JobRun
from tuneloop_core.errors import InvalidRequestError
from tuneloop_core.eval_outputs import write_output_items
from tuneloop_core.eval_rows import parse_lines, plain, row
from tuneloop_core.jobspecs import eval_run
from tuneloop_core.jobspecs.eval_run import DEFAULT_MAX_TOKENS

KIND = common_pb2.JOB_KIND_EVAL_RUN
# Items in flight at once; a batch boundary is where progress is reported and a cancel is
# noticed.
BATCH_ITEMS = 8


def _output_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def given_sample(sample: Mapping[str, Any] | None) -> dict[str, Any]:
    """A jsonl row's sample as graders read it: `output_text` is there whenever the row
    gives one (OpenAI's rows may also carry `choices`)."""
    out = dict(sample or {})
    if "output_text" not in out:
        choices = out.get("choices")
        if isinstance(choices, list) and choices and isinstance(choices[0], Mapping):
            message = choices[0].get("message") or {}
            out["output_text"] = str(message.get("content") or "")
    if isinstance(out.get("output_text"), str) and "output_json" not in out:
        out["output_json"] = _output_json(out["output_text"])
    return out


def item_status(sample_error: str, grades: list[Grade]) -> str:
    if sample_error or any(g.error for g in grades):
        return "error"
    return "pass" if all(g.passed for g in grades) else "fail"


class EvalRunWorker(AnsweringWorker):
    kind = KIND
    title = "eval run"

    async def work(self, run: JobRun, status: int, request: events_pb2.JobRequested) -> None:
        spec = request.eval_run
        eval_run.check(spec)
        source = spec.WhichOneof("source")
        rows = await self._rows(
            spec.completions.rows if source == "completions" else spec.jsonl.rows,
            request.tenant_id,
        )
        if status != common_pb2.JOB_STATUS_RUNNING:
            await run.running(
                f"Grading {len(rows)} item(s) with {len(spec.testing_criteria)} criteria"
                + (f"; {spec.completions.model} answers first." if source == "completions" else ".")
            )
        grader = Grader(self.inference, request.tenant_id)
        outputs: list[dict[str, Any]] = []
        for start in range(0, len(rows), BATCH_ITEMS):
            await run.check_cancelled()
            batch = rows[start : start + BATCH_ITEMS]
            if source == "completions":
                samples = await asyncio.gather(
                    *(self._sample(spec.completions, r["item"], request.tenant_id) for r in batch)
                )
                await run.progress("sampling", start + len(batch), len(rows))
            else:
                samples = [self._given(r) for r in batch]
            graded = await asyncio.gather(
                *(
                    self._grade_item(grader, spec, r["item"], s)
                    for r, s in zip(batch, samples, strict=True)
                )
            )
            for offset, (r, s, grades) in enumerate(zip(batch, samples, graded, strict=True)):
                outputs.append(self._output_item(start + offset, r["item"], s, grades))
            await run.progress("grading", start + len(batch), len(rows))
        result = await asyncio.to_thread(self._store, request.job_id, spec, outputs)
        await run.succeed(
            f"{result.passed} of {result.total} item(s) passed every criterion"
            + (f"; {result.errored} errored." if result.errored else "."),
            result=result,
        )

    async def _rows(self, rows: evals_pb2.EvalRows, tenant_id: str) -> list[dict[str, Any]]:
        param = "data_source.source"
        if not rows.file_id:
            return [
                row(plain(json_format.MessageToDict(r)), f"item {i}", param)
                for i, r in enumerate(rows.rows)
            ]
        file = await uploads.resolve(self.gateway, self.store, tenant_id, rows.file_id)
        return await asyncio.to_thread(_read_rows, file.path, param)

    @staticmethod
    def _given(r: Mapping[str, Any]) -> dict[str, Any]:
        return {"sample": given_sample(r.get("sample")), "error": "", "input": []}

    async def _sample(
        self, source: evals_pb2.CompletionsSource, item: Mapping[str, Any], tenant_id: str
    ) -> dict[str, Any]:
        """The model's answer to the item's conversation, as OpenAI's sample; an item
        whose conversation cannot be built or is refused gets an error instead."""
        empty: dict[str, Any] = {"output_text": "", "output_json": None}
        try:
            conversation = self._conversation(source, item)
        except TemplateError as exc:
            return {"sample": empty, "error": str(exc), "input": []}
        params = sampling_pb(source.sampling, DEFAULT_MAX_TOKENS)
        request = inference_pb2.GenerateRequest(
            model=source.model,
            messages=inference_pb2.ChatMessages(messages=conversation),
            sampling=params,
            request_id=f"evalrun-{uuid.uuid4().hex[:16]}",
            tenant_id=tenant_id,
        )
        turns = [{"role": m.role, "content": m.content} for m in conversation]
        try:
            answer = await generate_completion(self.inference, request)
        except InvalidRequestError as exc:
            return {"sample": empty, "error": exc.message, "input": turns}
        sample = {
            "output_text": answer.text,
            "output_json": _output_json(answer.text),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": answer.text},
                    "finish_reason": answer.finish_reason,
                }
            ],
        }
        return {
            "sample": sample,
            "error": "",
            "input": turns,
            "finish_reason": answer.finish_reason,
            "usage": {
                "prompt_tokens": answer.prompt_tokens,
                "completion_tokens": answer.completion_tokens,
                "total_tokens": answer.prompt_tokens + answer.completion_tokens,
                "cached_tokens": 0,
            },
            "model": source.model,
            "max_completion_tokens": params.max_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "seed": params.seed,
        }

    @staticmethod
    def _conversation(
        source: evals_pb2.CompletionsSource, item: Mapping[str, Any]
    ) -> list[inference_pb2.ChatMessage]:
        if not source.item_reference:
            return messages(source.template, item, {})
        turns = lookup(source.item_reference, {"item": item})
        if not isinstance(turns, list) or not all(
            isinstance(t, Mapping) and isinstance(t.get("content"), str) for t in turns
        ):
            raise TemplateError(
                f"'{source.item_reference}' is not a list of messages with text content"
            )
        return [
            inference_pb2.ChatMessage(role=str(t.get("role", "user")), content=t["content"])
            for t in turns
        ]

    async def _grade_item(
        self,
        grader: Grader,
        spec: evals_pb2.EvalRunJobSpec,
        item: Mapping[str, Any],
        sampled: Mapping[str, Any],
    ) -> list[Grade]:
        if sampled["error"]:
            return [
                Grade(name=g.name, type=g.WhichOneof("kind") or "", error="no sample to grade")
                for g in spec.testing_criteria
            ]
        return list(
            await asyncio.gather(
                *(grader.grade(g, item, sampled["sample"]) for g in spec.testing_criteria)
            )
        )

    @staticmethod
    def _output_item(
        index: int, item: Mapping[str, Any], sampled: Mapping[str, Any], grades: list[Grade]
    ) -> dict[str, Any]:
        text = sampled["sample"].get("output_text", "")
        sample = {
            "input": sampled["input"],
            "output": [{"role": "assistant", "content": text if isinstance(text, str) else ""}],
            "error": {"code": "sample_error", "message": sampled["error"]}
            if sampled["error"]
            else None,
            **{
                key: sampled[key]
                for key in (
                    "finish_reason",
                    "usage",
                    "model",
                    "max_completion_tokens",
                    "temperature",
                    "top_p",
                    "seed",
                )
                if key in sampled
            },
        }
        return {
            "index": index,
            "item": dict(item),
            "sample": sample,
            "results": [g.to_json() for g in grades],
            "status": item_status(sampled["error"], grades),
        }

    def _store(
        self, run_id: str, spec: evals_pb2.EvalRunJobSpec, outputs: list[dict[str, Any]]
    ) -> evals_pb2.EvalRunResult:
        result = summarize(spec, outputs)
        result.output_items_file = write_output_items(self.store, run_id, outputs)
        result.report_file = write_report(self.store, run_id, spec, result, outputs)
        return result


def summarize(
    spec: evals_pb2.EvalRunJobSpec, outputs: list[dict[str, Any]]
) -> evals_pb2.EvalRunResult:
    """Result counts, per-criterion passes and the model's token usage."""
    statuses = [o["status"] for o in outputs]
    per_criterion = []
    for i, criterion in enumerate(spec.testing_criteria):
        passed = sum(1 for o in outputs if o["results"][i]["passed"])
        per_criterion.append(
            evals_pb2.CriterionCounts(
                testing_criteria=criterion.name, passed=passed, failed=len(outputs) - passed
            )
        )
    usage = [o["sample"].get("usage") or {} for o in outputs]
    return evals_pb2.EvalRunResult(
        total=len(outputs),
        passed=statuses.count("pass"),
        failed=statuses.count("fail"),
        errored=statuses.count("error"),
        per_testing_criteria_results=per_criterion,
        usage=common_pb2.Usage(
            prompt_tokens=sum(u.get("prompt_tokens", 0) for u in usage),
            completion_tokens=sum(u.get("completion_tokens", 0) for u in usage),
        ),
    )


def _read_rows(path: Any, param: str) -> list[dict[str, Any]]:
    with open(path, "rb") as handle:
        return parse_lines(handle, param)
