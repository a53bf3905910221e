"""The multi grader's `calculate_output`: what a formula may contain, which names it uses,
and what goes wrong only when it is evaluated."""

from __future__ import annotations

import math

import pytest

from tuneloop_core import formula
from tuneloop_core.errors import InvalidRequestError


@pytest.mark.parametrize(
    ("expression", "values", "expected"),
    [
        ("0.5 * accuracy + 0.5 * min(style, 1)", {"accuracy": 1.0, "style": 3.0}, 1.0),
        ("(a + b) / 2", {"a": 0.2, "b": 0.6}, 0.4),
        ("-a + +b", {"a": 1.0, "b": 3.0}, 2.0),
        ("a ** 2 % 3", {"a": 2.0}, 1.0),
        ("max(a, b, c)", {"a": 0.1, "b": 0.9, "c": 0.5}, 0.9),
        ("abs(a - b)", {"a": 0.25, "b": 1.0}, 0.75),
        ("floor(a * 10) / 10 + ceil(b)", {"a": 0.37, "b": 0.2}, 1.3),
        ("exp(0) + sqrt(a) + log(b)", {"a": 4.0, "b": math.e}, 4.0),
        ("log(a, 2)", {"a": 8.0}, 3.0),
        ("1e-3 * 1000", {}, 1.0),
        ("  accuracy  ", {"accuracy": 0.7}, 0.7),
    ],
)
def test_good_formulas_evaluate(expression: str, values: dict[str, float], expected: float) -> None:
    assert formula.evaluate(expression, values) == pytest.approx(expected)
    assert formula.names(expression) == set(values)


def test_names_leave_out_functions_and_repeat_once() -> None:
    assert formula.names("min(a, 1) + max(a, b) * sqrt(b)") == {"a", "b"}
    assert formula.names("0.5") == set()


@pytest.mark.parametrize(
    ("expression", "what"),
    [
        ("a.b", "attribute access"),
        ("scores.__class__", "attribute access"),
        ("a[0]", "subscripts"),
        ("[x for x in a]", "comprehensions"),
        ("sum(x for x in a)", "a call to sum"),
        ("lambda: 1", "lambdas"),
        ("'text'", "strings"),
        ("min(a, b, key=1)", "keyword arguments"),
        ("min(*a)", "* arguments"),
        ("__import__('os')", "a call to __import__"),
        ("open('/etc/passwd')", "a call to open"),
        ("eval('1')", "a call to eval"),
        ("a(1)", "a call to a"),
        ("(lambda: 1)()", "a call to lambda: 1"),
        ("a < b", "comparisons"),
        ("a and b", "and/or"),
        ("a if b else c", "conditional expressions"),
        ("(a, b)", "tuples"),
        ("[a]", "lists"),
        ("{'a': 1}", "dicts"),
        ("(a := 1)", "assignments"),
        ("a // b", "the operator //"),
        ("a @ b", "the operator @"),
        ("a << 2", "the operator <<"),
        ("not a", "the operator not"),
        ("~a", "the operator ~"),
        ("True", "True"),
        ("None", "None"),
        ("1j", "1j"),
        ("min", "min without a call (write min(...))"),
        ("min(a)", "min() with 1 argument (it takes 2 to 64)"),
        ("sqrt(a, b)", "sqrt() with 2 arguments (it takes 1)"),
    ],
)
def test_forbidden_constructs_are_rejected(expression: str, what: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        formula.names(expression, param="graders.calculate_output")
    assert f"contains {what}, which is not allowed" in caught.value.message
    assert caught.value.param == "graders.calculate_output"


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("", "the formula is empty"),
        ("   ", "the formula is empty"),
        ("a +", "is not valid"),
        ("a = 1", "is not valid"),
        ("import os", "is not valid"),
        ("a" * 1001, "1001 characters long; at most 1000"),
        ("-" * 900 + "1", "nested more than 40 levels deep"),
        ("(" * 300 + "a" + ")" * 300, "the formula '((((("),
        ("min(" * 60 + "a" + ", 1)" * 60, "nested more than 40 levels deep"),
    ],
)
def test_invalid_or_hostile_text_is_rejected(expression: str, message: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        formula.names(expression)
    assert message in caught.value.message
    assert caught.value.param == "calculate_output"
    assert len(caught.value.message) < 400  # a long formula is cut short in the message


def test_check_names_the_unknown_names_and_the_param() -> None:
    formula.check("a + min(b, 1)", ["a", "b", "unused"], "graders")
    with pytest.raises(InvalidRequestError) as caught:
        formula.check("a + typo + other", iter(["a", "b"]), "graders")
    assert caught.value.param == "graders"
    assert "uses 'other', 'typo', which are not grader names (known: a, b)" in (
        caught.value.message
    )
    with pytest.raises(InvalidRequestError, match="uses 'x', which is not a grader name"):
        formula.check("x", [], "calculate_output")
    with pytest.raises(InvalidRequestError, match="a call to open"):
        formula.check("open(a)", ["a"], "calculate_output")


@pytest.mark.parametrize(
    ("expression", "values", "message"),
    [
        ("a / b", {"a": 1.0, "b": 0.0}, "divides by zero"),
        ("a % b", {"a": 1.0, "b": 0.0}, "divides by zero"),
        ("log(a)", {"a": 0.0}, "math domain error"),
        ("sqrt(a)", {"a": -1.0}, "math domain error"),
        ("a ** (1 / 3)", {"a": -8.0}, "math domain error"),  # no complex numbers
        ("10 ** 10 ** 10", {}, "overflows"),  # floats: fails at once, no huge integer
        ("exp(a)", {"a": 1000.0}, "overflows"),
        ("a * 1e308 * 10", {"a": 1.0}, "overflows"),
        ("a + b", {"a": 1.0}, "'b' has no value"),
        ("a", {"a": math.nan}, "'a' is nan"),
    ],
)
def test_evaluation_errors_are_value_errors(
    expression: str, values: dict[str, float], message: str
) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        formula.evaluate(expression, values)
    assert not isinstance(caught.value, InvalidRequestError)


def test_evaluate_rejects_an_invalid_formula_as_a_request_error() -> None:
    with pytest.raises(InvalidRequestError, match="attribute access"):
        formula.evaluate("a.real", {"a": 1.0})


def test_results_are_floats() -> None:
    result = formula.evaluate("floor(a) + 1", {"a": 2.5})
    assert result == 3.0
    assert type(result) is float
