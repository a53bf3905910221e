"""The checks every grader and eval run gets (tuneloop_core.jobspecs.eval_run) and how the
evaluator fills templates: each refusal names the field at fault."""

from __future__ import annotations

import pytest

from services.evaluator.graders.templates import TemplateError, render
from tuneloop.evaluator.v1 import evals_pb2
from tuneloop_core.errors import InvalidRequestError
from tuneloop_core.eval_rows import parse_lines, plain
from tuneloop_core.jobspecs import eval_run

SCHEMA = {"type": "object", "properties": {"question": {}, "answer": {}}}


def check(**kind: object) -> evals_pb2.Grader:
    return evals_pb2.Grader(name="g", **kind)  # type: ignore[arg-type]


def refused(grader: evals_pb2.Grader, sample: bool = True) -> InvalidRequestError:
    with pytest.raises(InvalidRequestError) as caught:
        eval_run.check_criteria([grader], SCHEMA, sample)
    return caught.value


def string_check(input_: str, reference: str, operation: str = "eq") -> evals_pb2.Grader:
    return check(
        string_check=evals_pb2.StringCheckGrader(
            input=input_, reference=reference, operation=operation
        )
    )


def test_templates_may_name_only_fields_of_the_item_schema() -> None:
    eval_run.check_criteria(
        [string_check("{{ sample.output_text }}", "{{item.answer}}")], SCHEMA, True
    )
    error = refused(string_check("{{sample.output_text}}", "{{item.reply}}"))
    assert error.param == "testing_criteria[0]" and "'reply'" in error.message
    assert "question" in error.message  # the fields it could have named
    error = refused(string_check("{{sample.output_text}}", "{{item.answer}}"), sample=False)
    assert "include_sample_schema" in error.message
    assert refused(string_check("{{answer}}", "x")).param == "testing_criteria[0].input"


def test_grader_settings_are_checked() -> None:
    assert refused(string_check("a", "b", "regex")).param == "testing_criteria[0].operation"
    bad_python = check(python=evals_pb2.PythonGrader(source="def grade(sample, item)\n  return 1"))
    error = refused(bad_python)
    assert error.param == "testing_criteria[0].source" and "line 1" in error.message
    no_grade = check(python=evals_pb2.PythonGrader(source="def score(a, b):\n    return 1\n"))
    assert "grade(sample, item)" in refused(no_grade).message
    labels = check(
        label_model=evals_pb2.LabelModelGrader(
            model="m",
            input=[evals_pb2.TemplateMessage(role="user", content="hi")],
            labels=["good", "bad"],
            passing_labels=["great"],
        )
    )
    assert refused(labels).param == "testing_criteria[0].passing_labels"
    multi = check(
        multi=evals_pb2.MultiGrader(graders={"a": string_check("x", "y")}, calculate_output="a + b")
    )
    assert refused(multi).param == "testing_criteria[0].calculate_output"
    twice = [string_check("x", "y"), string_check("x", "z")]
    with pytest.raises(InvalidRequestError, match="two testing criteria"):
        eval_run.check_criteria(twice, SCHEMA, True)


def test_templates_render_values_and_missing_fields_are_item_errors() -> None:
    item = {"question": "幾點？", "n": 3, "tags": ["a"], "nested": {"x": "y"}}
    sample = {"output_text": "三點"}
    text = "{{item.question}} {{item.n}} {{item.tags}} {{item.nested.x}} {{sample.output_text}}"
    assert render(text, item, sample) == '幾點？ 3 ["a"] y 三點'
    with pytest.raises(TemplateError, match="'missing'"):
        render("{{item.missing}}", item, sample)


def test_rows_come_from_jsonl_with_or_without_the_item_wrapper() -> None:
    lines = [b'{"item": {"q": 1}, "sample": {"output_text": "a"}}\n', b'{"q": 2}\n', b"\n"]
    assert parse_lines(lines, "p") == [
        {"item": {"q": 1}, "sample": {"output_text": "a"}},
        {"item": {"q": 2}, "sample": None},
    ]
    with pytest.raises(InvalidRequestError, match="line 2 is not JSON"):
        parse_lines([b"{}", b"{nope"], "p")
    with pytest.raises(InvalidRequestError, match="no rows"):
        parse_lines([b"  \n"], "p")
    assert plain({"n": 3.0, "x": [1.5, 2.0]}) == {"n": 3, "x": [1.5, 2]}
