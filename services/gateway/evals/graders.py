"""OpenAI's grader JSON → the typed `Grader` the evaluator runs, and the checks every grader
gets before anything is stored or run: its own settings (tuneloop_core.jobspecs.eval_run),
the fields its templates name, and that a model grader's model is one the tenant can use."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import TypeAdapter

from services.gateway.evals import protocol as p
from services.gateway.registry.models import Tenant
from services.gateway.served_models import served_model_names, unknown_model
from services.gateway.state import GatewayState
from tuneloop.evaluator.v1 import evals_pb2
from tuneloop_core.jobspecs import eval_run

_CRITERIA = TypeAdapter(list[p.AnyGrader])


def sampling_pb(params: p.SamplingParams | None) -> evals_pb2.EvalSampling:
    out = evals_pb2.EvalSampling()
    if params is None:
        return out
    out.max_tokens = params.max_completion_tokens or params.max_completions_tokens or 0
    out.temperature = params.temperature or 0.0
    out.top_p = params.top_p or 0.0
    if params.seed is not None:
        out.seed = params.seed
    return out


def messages_pb(messages: Iterable[p.TemplateMessage]) -> list[evals_pb2.TemplateMessage]:
    return [evals_pb2.TemplateMessage(role=m.role, content=m.text()) for m in messages]


def grader_pb(grader: Any) -> evals_pb2.Grader:
    """The typed grader of one parsed OpenAI grader."""
    out = evals_pb2.Grader(name=grader.name)
    if isinstance(grader, p.StringCheckGrader):
        out.string_check.CopyFrom(
            evals_pb2.StringCheckGrader(
                input=grader.input, reference=grader.reference, operation=grader.operation
            )
        )
    elif isinstance(grader, p.TextSimilarityGrader):
        out.text_similarity.CopyFrom(
            evals_pb2.TextSimilarityGrader(
                input=grader.input,
                reference=grader.reference,
                evaluation_metric=grader.evaluation_metric,
                pass_threshold=grader.pass_threshold,
            )
        )
    elif isinstance(grader, p.ScoreModelGrader):
        low, high = grader.range or [0.0, 1.0]
        score = evals_pb2.ScoreModelGrader(
            model=grader.model,
            input=messages_pb(grader.input),
            range_min=low,
            range_max=high,
            sampling=sampling_pb(grader.sampling_params),
        )
        if grader.pass_threshold is not None:
            score.pass_threshold = grader.pass_threshold
        out.score_model.CopyFrom(score)
    elif isinstance(grader, p.LabelModelGrader):
        out.label_model.CopyFrom(
            evals_pb2.LabelModelGrader(
                model=grader.model,
                input=messages_pb(grader.input),
                labels=grader.labels,
                passing_labels=grader.passing_labels,
                sampling=sampling_pb(grader.sampling_params),
            )
        )
    elif isinstance(grader, p.PythonGrader):
        python = evals_pb2.PythonGrader(source=grader.source, image_tag=grader.image_tag or "")
        if grader.pass_threshold is not None:
            python.pass_threshold = grader.pass_threshold
        out.python.CopyFrom(python)
    elif isinstance(grader, p.MultiGrader):
        subs = (
            grader.graders
            if isinstance(grader.graders, dict)
            else {grader.graders.name: grader.graders}
        )
        multi = evals_pb2.MultiGrader(calculate_output=grader.calculate_output)
        for name, sub in subs.items():
            multi.graders[name].CopyFrom(grader_pb(sub))
        if grader.pass_threshold is not None:
            multi.pass_threshold = grader.pass_threshold
        out.multi.CopyFrom(multi)
    return out


def criteria_pb(stored: list[dict[str, Any]]) -> list[evals_pb2.Grader]:
    """The typed criteria of an eval as stored (its API JSON)."""
    return [grader_pb(g) for g in _CRITERIA.validate_python(stored)]


def _models(grader: evals_pb2.Grader, param: str) -> Iterable[tuple[str, str]]:
    kind = grader.WhichOneof("kind")
    if kind in ("score_model", "label_model"):
        yield getattr(grader, kind).model, f"{param}.model"
    elif kind == "multi":
        for name, sub in grader.multi.graders.items():
            yield from _models(sub, f"{param}.graders.{name}")


async def check_models(
    state: GatewayState, tenant: Tenant, graders: Iterable[evals_pb2.Grader], param: str
) -> None:
    """Every model grader's model is one the tenant can use (400 model_not_found)."""
    wanted = [m for i, g in enumerate(graders) for m in _models(g, f"{param}[{i}]")]
    if not wanted:
        return
    available = await served_model_names(state, tenant)
    for model, where in wanted:
        if model not in available:
            raise unknown_model(model, where, available)


async def checked_criteria(
    state: GatewayState,
    tenant: Tenant,
    criteria: list[Any],
    item_schema: Mapping[str, Any] | None,
    sample: bool,
    param: str = "testing_criteria",
) -> list[evals_pb2.Grader]:
    graders = [grader_pb(g) for g in criteria]
    eval_run.check_criteria(graders, item_schema, sample, param)
    await check_models(state, tenant, graders, param)
    return graders
