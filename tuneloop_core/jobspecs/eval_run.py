"""The bounds and checks of graders and eval runs (`tuneloop.evaluator.v1.EvalRunJobSpec`),
defined once: the gateway checks an eval and a run with them before anything is stored or
queued, the grader endpoints validate with them, and the evaluator checks the spec it takes
from the queue with them.

Templates are OpenAI's: `{{item.question}}`, `{{sample.output_text}}`; a name may be a
dotted path into the item or the sample."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from tuneloop.evaluator.v1 import evals_pb2
from tuneloop_core import formula
from tuneloop_core.errors import InvalidRequestError
from tuneloop_core.jobspecs import python_source

STRING_CHECK_OPERATIONS = ("eq", "ne", "like", "ilike")
SIMILARITY_METRICS = (
    "bleu",
    "gleu",
    "meteor",
    "rouge_1",
    "rouge_2",
    "rouge_3",
    "rouge_4",
    "rouge_5",
    "rouge_l",
    "fuzzy_match",
    "cosine",
)
GRADER_TYPES = ("string_check", "text_similarity", "score_model", "label_model", "python", "multi")
MAX_CRITERIA = 16
MAX_ROWS = 5000
MAX_MULTI_GRADERS = 8
MAX_TEMPLATE_CHARS = 32_000
DEFAULT_MAX_TOKENS = 256  # a completions run's answers, and a model grader's
ROLES = ("system", "developer", "user", "assistant")
TEMPLATE_REF = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
_PATH = re.compile(r"^(item|sample)(\.[A-Za-z_][\w-]*)*$")


def template_paths(template: str, param: str) -> list[str]:
    """The dotted paths a template names, e.g. ["item.question"]; a reference that is not
    `item.…` or `sample.…` is an error."""
    if len(template) > MAX_TEMPLATE_CHARS:
        raise InvalidRequestError(
            f"the template is longer than {MAX_TEMPLATE_CHARS} characters", param=param
        )
    paths = TEMPLATE_REF.findall(template)
    for path in paths:
        if not _PATH.match(path):
            raise InvalidRequestError(
                f"'{{{{{path}}}}}' is not a template reference: use {{{{item.<field>}}}} or "
                "{{sample.<field>}}",
                param=param,
                code="invalid_template",
            )
    return paths


def check_paths(
    paths: Iterable[str], item_schema: Mapping[str, Any] | None, sample: bool, param: str
) -> None:
    """Every `item.x` must be a property of the item schema (when it lists properties) and
    `sample.…` needs samples (a completions run or include_sample_schema)."""
    properties = (item_schema or {}).get("properties")
    for path in paths:
        root, _, rest = path.partition(".")
        if root == "sample":
            if not sample:
                raise InvalidRequestError(
                    f"'{{{{{path}}}}}' names the sample, but this eval has none: set "
                    "data_source_config.include_sample_schema, or grade a completions run",
                    param=param,
                    code="invalid_template",
                )
            continue
        field = rest.split(".")[0]
        if isinstance(properties, Mapping) and field and field not in properties:
            known = ", ".join(sorted(properties)) or "none"
            raise InvalidRequestError(
                f"'{{{{{path}}}}}' names '{field}', which is not in the item schema "
                f"(its fields: {known})",
                param=param,
                code="invalid_template",
            )


def _messages_paths(messages: Iterable[evals_pb2.TemplateMessage], param: str) -> list[str]:
    paths: list[str] = []
    for i, message in enumerate(messages):
        if message.role not in ROLES:
            raise InvalidRequestError(
                f"role must be one of {', '.join(ROLES)}", param=f"{param}[{i}].role"
            )
        paths += template_paths(message.content, f"{param}[{i}].content")
    return paths


def _check_model_grader(model: str, messages: Any, param: str) -> list[str]:
    if not model:
        raise InvalidRequestError("a model grader names its model", param=f"{param}.model")
    if not messages:
        raise InvalidRequestError("a model grader needs input messages", param=f"{param}.input")
    return _messages_paths(messages, f"{param}.input")


def _one_of(value: str, allowed: tuple[str, ...], param: str) -> None:
    if value not in allowed:
        name = param.rsplit(".", 1)[-1]
        raise InvalidRequestError(f"{name} must be one of {', '.join(allowed)}", param=param)


def grader_paths(grader: evals_pb2.Grader, param: str, depth: int = 0) -> list[str]:
    """Check one grader's own settings; the template paths it reads."""
    if not grader.name:
        raise InvalidRequestError("every grader has a name", param=f"{param}.name")
    kind = grader.WhichOneof("kind")
    if kind in ("string_check", "text_similarity"):
        pair = getattr(grader, kind)
        if kind == "string_check":
            _one_of(pair.operation, STRING_CHECK_OPERATIONS, f"{param}.operation")
        else:
            _one_of(pair.evaluation_metric, SIMILARITY_METRICS, f"{param}.evaluation_metric")
        return template_paths(pair.input, f"{param}.input") + template_paths(
            pair.reference, f"{param}.reference"
        )
    if kind == "score_model":
        score = grader.score_model
        if not score.range_min < score.range_max:
            raise InvalidRequestError(
                "range must be two numbers, the lower first", param=f"{param}.range"
            )
        return _check_model_grader(score.model, score.input, param)
    if kind == "label_model":
        label = grader.label_model
        if len(set(label.labels)) < 2:
            raise InvalidRequestError(
                "a label_model grader needs at least two distinct labels", param=f"{param}.labels"
            )
        stray = [x for x in label.passing_labels if x not in label.labels]
        if not label.passing_labels or stray:
            raise InvalidRequestError(
                "passing_labels must be some of the labels"
                + (f" ({', '.join(stray)} is not one)" if stray else ""),
                param=f"{param}.passing_labels",
            )
        return _check_model_grader(label.model, label.input, param)
    if kind == "python":
        python_source.check_source(grader.python.source, f"{param}.source")
        return []
    if kind == "multi":
        multi = grader.multi
        if depth > 0:
            raise InvalidRequestError(
                "a multi grader cannot contain another multi grader", param=f"{param}.graders"
            )
        if not 1 <= len(multi.graders) <= MAX_MULTI_GRADERS:
            raise InvalidRequestError(
                f"a multi grader combines 1–{MAX_MULTI_GRADERS} graders", param=f"{param}.graders"
            )
        formula.check(multi.calculate_output, multi.graders, f"{param}.calculate_output")
        paths: list[str] = []
        for name, sub in sorted(multi.graders.items()):
            paths += grader_paths(sub, f"{param}.graders.{name}", depth + 1)
        return paths
    raise InvalidRequestError(
        f"unknown grader type; known: {', '.join(GRADER_TYPES)}", param=f"{param}.type"
    )


def check_criteria(
    criteria: Iterable[evals_pb2.Grader],
    item_schema: Mapping[str, Any] | None,
    sample: bool,
    param: str = "testing_criteria",
) -> None:
    """An eval's testing criteria: 1–MAX_CRITERIA graders with distinct names, each valid,
    reading only fields the item schema has."""
    criteria = list(criteria)
    if not 1 <= len(criteria) <= MAX_CRITERIA:
        raise InvalidRequestError(f"an eval has 1–{MAX_CRITERIA} testing criteria", param=param)
    names: set[str] = set()
    for i, grader in enumerate(criteria):
        if grader.name in names:
            raise InvalidRequestError(
                f"two testing criteria are named '{grader.name}'", param=f"{param}[{i}].name"
            )
        names.add(grader.name)
        check_paths(grader_paths(grader, f"{param}[{i}]"), item_schema, sample, f"{param}[{i}]")


def _rows(spec: evals_pb2.EvalRows, param: str) -> None:
    if not spec.file_id and not spec.rows:
        raise InvalidRequestError("the run has no items", param=f"{param}.source")
    if len(spec.rows) > MAX_ROWS:
        raise InvalidRequestError(
            f"a run grades at most {MAX_ROWS} items", param=f"{param}.source.content"
        )


def check(spec: evals_pb2.EvalRunJobSpec) -> None:
    """What the evaluator checks of a spec it took from the queue: a publish that bypassed
    the gateway fails the job with the error the API would have given. (The item schema
    was checked by the gateway when the eval and the run were created.)"""
    source = spec.WhichOneof("source")
    completions = source == "completions"
    check_criteria(spec.testing_criteria, None, sample=True)
    if completions:
        run = spec.completions
        if not run.model:
            raise InvalidRequestError(
                "a completions run names its model", param="data_source.model"
            )
        if not run.template and not run.item_reference:
            raise InvalidRequestError(
                "a completions run needs input_messages", param="data_source.input_messages"
            )
        _messages_paths(run.template, "data_source.input_messages.template")
        _rows(run.rows, "data_source")
    elif source == "jsonl":
        _rows(spec.jsonl.rows, "data_source")
    else:
        raise InvalidRequestError("the run has no data source", param="data_source")
